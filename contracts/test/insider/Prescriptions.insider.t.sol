// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IPrescriptions} from "../../src/interfaces/IPrescriptions.sol";
import {Fixture} from "../utils/Fixture.sol";

/// @notice Issue 19, points 3, 4 and 7: a licensed insider in bad faith against Prescriptions. Each
///         `test_RevertWhen_` reproduces a finding that succeeded on the contracts before the fix.
contract PrescriptionsInsiderTest is Fixture {
    function _schedule2() internal view returns (IPrescriptions.RxTerms memory t) {
        t = _terms();
        t.schedule = 2;
        t.fills = 1;
        t.quantityPerFill = 60;
        t.validUntil = uint32(block.timestamp + 30 days);
        t.minFillInterval = 0;
        t.pharmacy = pharmacy;
    }

    function _expectDispenseRevert(bytes32 rxId, uint32 quantity, bytes memory err) internal {
        uint256 before = _dispensedOf(rxId);
        vm.expectRevert(err);
        vm.prank(pharmacy);
        rx.dispense(rxId, quantity, before, false, bytes32(0));
    }

    // ---------------------------------------------------------------- point 3: the kill switch

    /// @dev The stolen-key case: the registrar revokes the prescriber; before, schedule II stayed dispensable.
    function test_RevertWhen_DispenseAfterPrescriberRevoked() public {
        bytes32 rxId = _issue(_schedule2());
        vm.prank(registrar);
        credentials.revoke(prescriber, 13);
        _expectDispenseRevert(
            rxId,
            60,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__PrescriberInactive.selector, rxId, prescriber
            )
        );
    }

    function test_RevertWhen_DispenseAfterPrescriberSuspended() public {
        bytes32 rxId = _issue(_terms());
        vm.prank(registrar);
        credentials.suspend(prescriber, 13);
        _expectDispenseRevert(
            rxId,
            30,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__PrescriberInactive.selector, rxId, prescriber
            )
        );
        vm.prank(registrar);
        credentials.reinstate(prescriber);
        _dispense(rxId, 30);
    }

    function test_RevertWhen_DispenseAfterPrescriberLicenseExpired() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.validUntil = uint32(block.timestamp + 400 days);
        t.fills = 1;
        bytes32 rxId = _issue(t);
        vm.warp(credentials.credentialOf(prescriber).expiresAt);
        vm.prank(registrar);
        credentials.renew(pharmacy, keccak256("license-3 renewed"), _inDays(365));
        _expectDispenseRevert(
            rxId,
            30,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__PrescriberInactive.selector, rxId, prescriber
            )
        );
    }

    /// @dev The registrar removes schedule II from the prescriber: the outstanding schedule II stops.
    function test_RevertWhen_DispenseAfterScheduleRemoved() public {
        bytes32 rxId = _issue(_schedule2());
        vm.prank(registrar);
        credentials.setSchedules(prescriber, 0x38);
        _expectDispenseRevert(
            rxId,
            60,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__PrescriberLacksSchedule.selector, rxId, prescriber, 2, 0x38
            )
        );
    }

    function test_VoidPrescription_ByRegistrar() public {
        bytes32 rxId = _issue(_schedule2());
        vm.expectEmit(address(rx));
        emit IPrescriptions.PrescriptionCancelled(rxId, registrar, IPrescriptions.Canceller.Registrar, 77);
        vm.prank(registrar);
        rx.voidPrescription(rxId, 77);
        _expectDispenseRevert(
            rxId,
            60,
            abi.encodeWithSelector(IPrescriptions.Prescriptions__PrescriptionCancelled.selector, rxId)
        );
    }

    function test_RevertWhen_VoidPrescriptionNotRegistrar() public {
        bytes32 rxId = _issue(_terms());
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__NotRegistrar.selector, rxId, admin)
        );
        vm.prank(admin);
        rx.voidPrescription(rxId, 77);
    }

    function test_CancelAsPatient() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = _issue(t);
        vm.expectEmit(address(rx));
        emit IPrescriptions.PrescriptionCancelled(rxId, patient, IPrescriptions.Canceller.Patient, 3);
        vm.prank(patient);
        rx.cancelAsPatient(t, 3);
        _expectDispenseRevert(
            rxId,
            30,
            abi.encodeWithSelector(IPrescriptions.Prescriptions__PrescriptionCancelled.selector, rxId)
        );
    }

    function test_RevertWhen_CancelAsPatientNotPatient() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = _issue(t);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__NotPatient.selector, rxId, prescriber)
        );
        vm.prank(prescriber);
        rx.cancelAsPatient(t, 3);
    }

    function test_RevertWhen_CancelAsPatientTwice() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = _issue(t);
        vm.startPrank(patient);
        rx.cancelAsPatient(t, 3);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__PrescriptionCancelled.selector, rxId)
        );
        rx.cancelAsPatient(t, 3);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- point 4: signed terms die

    /// @dev Before: a signature had no deadline and could be relayed forever.
    function test_RevertWhen_IssueWithSigAfterDeadline() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes memory sig = signDigest(prescriberKey, rx.hashPrescription(t));
        vm.warp(t.deadline);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__DeadlinePassed.selector, t.deadline, t.deadline
            )
        );
        rx.issueWithSig(t, sig);
    }

    function test_IssueWithSig_LastSecondBeforeDeadline() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes memory sig = signDigest(prescriberKey, rx.hashPrescription(t));
        vm.warp(uint256(t.deadline) - 1);
        rx.issueWithSig(t, sig);
    }

    /// @dev The prescriber withdraws signatures it handed out but that were not relayed yet.
    function test_RevertWhen_IssueWithSigNonceInvalidated() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes memory sig = signDigest(prescriberKey, rx.hashPrescription(t));
        vm.expectEmit(address(rx));
        emit IPrescriptions.NoncesInvalidated(prescriber, 0, 2);
        vm.prank(prescriber);
        rx.invalidateNonces(2);
        vm.assertEq(rx.nonceFloor(prescriber), 2);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__NonceInvalidated.selector, prescriber, 1, 2)
        );
        rx.issueWithSig(t, sig);
        t.nonce = 2; // a new signature above the floor still works
        rx.issueWithSig(t, signDigest(prescriberKey, rx.hashPrescription(t)));
    }

    function test_RevertWhen_InvalidateNoncesNotForward() public {
        vm.startPrank(prescriber);
        rx.invalidateNonces(5);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__InvalidNonceFloor.selector, prescriber, 5, 5)
        );
        rx.invalidateNonces(5);
        uint256 tooFar = 5 + rx.MAX_NONCE_JUMP() + 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__InvalidNonceFloor.selector, prescriber, 5, tooFar
            )
        );
        rx.invalidateNonces(tooFar);
        vm.stopPrank();
    }

    /// @dev The audit's schedule IV was filled 290 days after signing: its 180 days counted from the relay. Now
    ///      they count from the date written, which is signed.
    function test_RevertWhen_ScheduleIVRelayedLateCountsFromDateWritten() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.schedule = 4;
        t.pharmacy = pharmacy;
        t.deadline = uint32(block.timestamp + 365 days);
        t.validUntil = uint32(block.timestamp + 110 days + 180 days); // 180 days after a relay on day 110
        bytes memory sig = signDigest(prescriberKey, rx.hashPrescription(t));
        vm.warp(block.timestamp + 110 days);
        vm.prank(registrar);
        credentials.renew(prescriber, keccak256("renewed"), _inDays(365));
        vm.prank(patient);
        consent.grant(prescriber, PRESCRIBE, _inDays(365));
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__ValidityTooLong.selector,
                4,
                t.validUntil,
                uint256(t.dateWritten) + 180 days
            )
        );
        rx.issueWithSig(t, sig);
    }

    function test_RevertWhen_IssueWrittenInFuture() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.dateWritten = uint32(block.timestamp + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__WrittenInFuture.selector, t.dateWritten, block.timestamp
            )
        );
        vm.prank(prescriber);
        rx.issue(t);
    }

    // ---------------------------------------------------------------- point 7: a retried dispense is harmless

    /// @dev Before: the same dispensing record sent twice consumed two fills' worth.
    function test_RevertWhen_DispenseRetried() public {
        bytes32 rxId = _issue(_terms());
        bytes32 record = keccak256("dispensing record, salted");
        vm.prank(pharmacy);
        rx.dispense(rxId, 10, 0, false, record);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__StaleDispense.selector, rxId, 0, 10)
        );
        vm.prank(pharmacy);
        rx.dispense(rxId, 10, 0, false, record);
        vm.assertEq(_dispensedOf(rxId), 10);
    }

    /// @dev Two pharmacies racing on an undesignated prescription: the second one's stale read fails cleanly.
    function test_RevertWhen_DispenseRacedByAnotherPharmacy() public {
        bytes32 rxId = _issue(_terms());
        vm.prank(pharmacy2);
        rx.dispense(rxId, 30, 0, false, keccak256("pharmacy 2 record"));
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__StaleDispense.selector, rxId, 0, 30)
        );
        vm.prank(pharmacy);
        rx.dispense(rxId, 30, 0, false, keccak256("pharmacy 1 record"));
    }
}
