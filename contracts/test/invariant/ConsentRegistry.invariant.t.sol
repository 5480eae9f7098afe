// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ICredentialRegistry} from "../../src/interfaces/ICredentialRegistry.sol";
import {Fixture} from "../utils/Fixture.sol";
import {EmergencyAccessHandler} from "./EmergencyAccessHandler.sol";
import {FuzzSelector} from "./Prescriptions.invariant.t.sol";

/// @notice Issue 19, point 2: no emergency access is ever held past its bound — never longer than 24 hours from
///         its opening, never extended by re-opening, never re-opened within the cooldown, never for a blocked
///         grantee or one whose prescriber credential is not active.
contract ConsentRegistryInvariantTest is Fixture {
    EmergencyAccessHandler internal handler;

    function setUp() public override {
        super.setUp();
        address[] memory prescribers = new address[](2);
        prescribers[0] = prescriber;
        prescribers[1] = prescriber2;
        address[] memory patients = new address[](2);
        patients[0] = makeAddr("patient B");
        patients[1] = makeAddr("patient C");
        handler = new EmergencyAccessHandler(consent, credentials, registrar, prescribers, patients);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory selectors = new bytes4[](7);
        selectors[0] = EmergencyAccessHandler.open.selector;
        selectors[1] = EmergencyAccessHandler.open.selector;
        selectors[2] = EmergencyAccessHandler.end.selector;
        selectors[3] = EmergencyAccessHandler.setBlock.selector;
        selectors[4] = EmergencyAccessHandler.setStatus.selector;
        selectors[5] = EmergencyAccessHandler.warp.selector;
        selectors[6] = EmergencyAccessHandler.warp.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector({addr: address(handler), selectors: selectors});
    }

    /// @dev READ through break-glass (these patients consent to nobody) only inside [openedAt, end) of the
    ///      pair's latest access, end <= openedAt + 24 hours, not blocked, with an active prescriber credential.
    function invariant_NoEmergencyAccessPastItsBound() public view {
        uint256 maxDuration = consent.MAX_EMERGENCY_DURATION();
        for (uint256 p; p < handler.patientCount(); ++p) {
            address patient_ = handler.patients(p);
            for (uint256 g; g < handler.prescriberCount(); ++g) {
                address grantee = handler.prescribers(g);
                if (!consent.hasScope(patient_, grantee, READ)) continue;
                uint256 openedAt = handler.ghostOpenedAt(patient_, grantee);
                vm.assertTrue(openedAt != 0, "READ without any emergency access");
                vm.assertLe(openedAt, block.timestamp);
                vm.assertTrue(block.timestamp < handler.ghostEnd(patient_, grantee), "held past its end");
                vm.assertTrue(block.timestamp < openedAt + maxDuration, "held past 24 hours");
                vm.assertFalse(handler.ghostBlocked(patient_, grantee), "held while blocked");
                vm.assertTrue(
                    credentials.isActive(grantee, ICredentialRegistry.Kind.Prescriber),
                    "held by an inactive grantee"
                );
            }
        }
    }

    function invariant_NeverReopenedWhileOpenCoolingDownOrBlocked() public view {
        vm.assertEq(handler.openedWhileOpenOrCoolingDown(), 0, "re-opened while open or cooling down");
        vm.assertEq(handler.openedWhileBlocked(), 0, "opened for a blocked grantee");
    }
}
