// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ConsentRegistry} from "../../src/ConsentRegistry.sol";
import {CredentialRegistry} from "../../src/CredentialRegistry.sol";
import {Test} from "../utils/Test.sol";

/// @notice Drives break-glass access (open, end, block, credential changes, time) with random actions and keeps a
///         ghost model of when each pair's access was opened and ended, and of what the patient blocked.
contract EmergencyAccessHandler is Test {
    ConsentRegistry internal immutable consent;
    CredentialRegistry internal immutable credentials;
    address internal immutable registrar;
    address[] public prescribers;
    address[] public patients;

    mapping(address patient => mapping(address grantee => uint256)) public ghostOpenedAt;
    mapping(address patient => mapping(address grantee => uint256)) public ghostEnd;
    mapping(address patient => mapping(address grantee => bool)) public ghostBlocked;

    /// @dev Violations: a successful open while the pair's access was open, within its cooldown, or blocked.
    uint256 public openedWhileOpenOrCoolingDown;
    uint256 public openedWhileBlocked;
    uint256 public openCount;

    constructor(
        ConsentRegistry consent_,
        CredentialRegistry credentials_,
        address registrar_,
        address[] memory prescribers_,
        address[] memory patients_
    ) {
        consent = consent_;
        credentials = credentials_;
        registrar = registrar_;
        prescribers = prescribers_;
        patients = patients_;
    }

    function prescriberCount() external view returns (uint256) {
        return prescribers.length;
    }

    function patientCount() external view returns (uint256) {
        return patients.length;
    }

    function open(uint256 prescriberSeed, uint256 patientSeed, uint256 duration) external {
        address grantee = prescribers[prescriberSeed % prescribers.length];
        address patient = patients[patientSeed % patients.length];
        uint256 opened = ghostOpenedAt[patient][grantee];
        bool coolingDown =
            opened != 0 && block.timestamp < ghostEnd[patient][grantee] + consent.EMERGENCY_COOLDOWN();
        uint32 d = uint32(bound(duration, 1, 24 hours));
        vm.prank(grantee);
        try consent.openEmergencyAccess(
            patient, uint16(1 + duration % 100), keccak256(abi.encode(duration)), d
        ) {
            if (coolingDown) openedWhileOpenOrCoolingDown++;
            if (ghostBlocked[patient][grantee]) openedWhileBlocked++;
            ghostOpenedAt[patient][grantee] = block.timestamp;
            ghostEnd[patient][grantee] = block.timestamp + d;
            openCount++;
        } catch {}
    }

    function end(uint256 prescriberSeed, uint256 patientSeed, bool byPatient) external {
        address grantee = prescribers[prescriberSeed % prescribers.length];
        address patient = patients[patientSeed % patients.length];
        vm.prank(byPatient ? patient : grantee);
        try consent.endEmergencyAccess(patient, grantee) {
            ghostEnd[patient][grantee] = block.timestamp;
        } catch {}
    }

    function setBlock(uint256 prescriberSeed, uint256 patientSeed, bool blocked) external {
        address grantee = prescribers[prescriberSeed % prescribers.length];
        address patient = patients[patientSeed % patients.length];
        vm.prank(patient);
        try consent.setEmergencyBlock(grantee, blocked) {
            ghostBlocked[patient][grantee] = blocked;
            if (blocked && block.timestamp < ghostEnd[patient][grantee]) {
                ghostEnd[patient][grantee] = block.timestamp;
            }
        } catch {}
    }

    function setStatus(uint256 prescriberSeed, uint256 action) external {
        address grantee = prescribers[prescriberSeed % prescribers.length];
        vm.startPrank(registrar);
        action = action % 8;
        if (action < 3) {
            try credentials.suspend(grantee, 1) {} catch {}
        } else if (action < 7) {
            try credentials.reinstate(grantee) {} catch {}
        } else {
            try credentials.revoke(grantee, 2) {} catch {}
        }
        vm.stopPrank();
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 3 days));
    }
}
