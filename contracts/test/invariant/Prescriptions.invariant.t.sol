// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {PrescriptionsHandler} from "./PrescriptionsHandler.sol";

/// @dev forge-std's `FuzzSelector`, declared locally (no forge-std here).
struct FuzzSelector {
    address addr;
    bytes4[] selectors;
}

contract PrescriptionsInvariantTest is Fixture {
    PrescriptionsHandler internal handler;

    function setUp() public override {
        super.setUp();
        address[] memory prescribers = new address[](2);
        prescribers[0] = prescriber;
        prescribers[1] = prescriber2;
        address[] memory pharmacies = new address[](2);
        pharmacies[0] = pharmacy;
        pharmacies[1] = pharmacy2;
        address[] memory patients = new address[](3);
        patients[0] = patient;
        patients[1] = makeAddr("patient B");
        patients[2] = makeAddr("patient C");
        handler =
            new PrescriptionsHandler(credentials, consent, rx, registrar, prescribers, pharmacies, patients);
        for (uint256 p; p < patients.length; ++p) {
            for (uint256 s; s < prescribers.length; ++s) {
                handler.grantConsent(p, s, 90 days);
            }
        }
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory selectors = new bytes4[](9);
        selectors[0] = PrescriptionsHandler.issue.selector;
        selectors[1] = PrescriptionsHandler.issue.selector; // issuing twice as often keeps prescriptions coming
        selectors[2] = PrescriptionsHandler.dispense.selector;
        selectors[3] = PrescriptionsHandler.dispense.selector;
        selectors[4] = PrescriptionsHandler.cancel.selector;
        selectors[5] = PrescriptionsHandler.warp.selector;
        selectors[6] = PrescriptionsHandler.setCredentialStatus.selector;
        selectors[7] = PrescriptionsHandler.grantConsent.selector;
        selectors[8] = PrescriptionsHandler.revokeConsent.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector({addr: address(handler), selectors: selectors});
    }

    /// @dev Nothing is ever dispensed beyond what was authorised, and the contract's totals match the ghost sums.
    function invariant_DispensedNeverExceedsAuthorized() public view {
        uint256 n = handler.rxCount();
        for (uint256 i; i < n; ++i) {
            bytes32 rxId = handler.rxIds(i);
            (, uint256 dispensed, uint256 authorized) = rx.prescriptionOf(rxId);
            vm.assertLe(dispensed, authorized, "dispensed beyond authorised");
            vm.assertEq(dispensed, handler.ghostDispensed(rxId), "total dispensed != ghost sum");
            vm.assertEq(authorized, handler.ghostAuthorized(rxId), "authorised != ghost");
        }
    }

    function invariant_NoDispenseAfterCancelOrExpiry() public view {
        vm.assertEq(
            handler.dispensedWhenCancelledOrExpired(), 0, "dispensed a cancelled or expired prescription"
        );
    }

    function invariant_OnlyActiveCredentialsIssueOrDispense() public view {
        vm.assertEq(handler.actedWithInactiveCredential(), 0, "an inactive credential issued or dispensed");
    }

    /// @dev Issue 19 point 3 (the kill switch): no dispense after the prescriber's revocation, suspension or
    ///      expiry, or after the registrar removed the schedule from the prescriber or the pharmacy.
    function invariant_NoDispenseAfterPrescriberRevocation() public view {
        vm.assertEq(
            handler.dispensedWithoutPrescriberStanding(),
            0,
            "dispensed after the prescriber lost its standing"
        );
    }

    /// @dev Issue 19 point 7: a retried dispense (the same transaction again) never counts twice.
    function invariant_RetriedDispenseNeverCounts() public view {
        vm.assertEq(handler.retriedDispenseCounted(), 0, "a retried dispense was counted");
    }

    function invariant_RevokedConsentNeverAdmitsPrescription() public view {
        vm.assertEq(handler.issuedAfterConsentRevoked(), 0, "issued after the consent was revoked");
        vm.assertEq(handler.issuedWithoutConsent(), 0, "issued without consent");
    }
}
