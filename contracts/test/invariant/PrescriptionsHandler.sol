// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ConsentRegistry} from "../../src/ConsentRegistry.sol";
import {CredentialRegistry} from "../../src/CredentialRegistry.sol";
import {Prescriptions} from "../../src/Prescriptions.sol";
import {IPrescriptions} from "../../src/interfaces/IPrescriptions.sol";
import {Test} from "../utils/Test.sol";

/// @notice Drives Prescriptions, CredentialRegistry and ConsentRegistry with random but mostly valid actions and
///         keeps its own (ghost) model of credentials, consents and dispensed quantities. Every successful call
///         the model says should have been refused is counted as a violation.
contract PrescriptionsHandler is Test {
    enum GhostStatus {
        Active,
        Suspended,
        Revoked
    }

    uint8 internal constant PRESCRIBE = 4;

    CredentialRegistry internal immutable credentials;
    ConsentRegistry internal immutable consent;
    Prescriptions internal immutable rx;
    address internal immutable registrar;

    address[] internal prescribers;
    address[] internal pharmacies;
    address[] internal patients;

    // Ghost model.
    mapping(address account => GhostStatus) public ghostStatus;
    mapping(address account => uint256) public ghostExpiry;
    mapping(address patient => mapping(address prescriber => uint256 expiresAt)) public ghostConsentUntil;
    mapping(address patient => mapping(address prescriber => bool)) public ghostConsentRevoked;
    bytes32[] public rxIds;
    mapping(bytes32 rxId => uint256) public ghostDispensed;
    mapping(bytes32 rxId => uint256) public ghostAuthorized;
    mapping(bytes32 rxId => bool) public ghostCancelled;
    mapping(bytes32 rxId => uint256) public ghostValidUntil;
    mapping(bytes32 rxId => address) public ghostPrescriber;
    mapping(bytes32 rxId => uint8) public ghostSchedule;
    mapping(bytes32 rxId => IPrescriptions.RxTerms) internal ghostTerms;
    mapping(address account => uint8) public ghostSchedules;

    // Violations: must stay 0.
    uint256 public dispensedWhenCancelledOrExpired;
    uint256 public actedWithInactiveCredential;
    uint256 public issuedWithoutConsent;
    uint256 public issuedAfterConsentRevoked;
    /// @dev The kill switch: a dispense whose prescriber is no longer active (revoked, suspended, expired) or
    ///      no longer holds the schedule, or by a pharmacy not registered for it.
    uint256 public dispensedWithoutPrescriberStanding;
    /// @dev Point 7 of issue 19: the same dispense sent twice was counted twice.
    uint256 public retriedDispenseCounted;

    // Progress counters, so a run that never issues or dispenses is visible.
    uint256 public issuedCount;
    uint256 public dispenseCount;

    constructor(
        CredentialRegistry credentials_,
        ConsentRegistry consent_,
        Prescriptions rx_,
        address registrar_,
        address[] memory prescribers_,
        address[] memory pharmacies_,
        address[] memory patients_
    ) {
        credentials = credentials_;
        consent = consent_;
        rx = rx_;
        registrar = registrar_;
        prescribers = prescribers_;
        pharmacies = pharmacies_;
        patients = patients_;
        for (uint256 i; i < prescribers_.length; ++i) {
            ghostExpiry[prescribers_[i]] = credentials_.credentialOf(prescribers_[i]).expiresAt;
            ghostSchedules[prescribers_[i]] = credentials_.credentialOf(prescribers_[i]).schedules;
        }
        for (uint256 i; i < pharmacies_.length; ++i) {
            ghostExpiry[pharmacies_[i]] = credentials_.credentialOf(pharmacies_[i]).expiresAt;
            ghostSchedules[pharmacies_[i]] = credentials_.credentialOf(pharmacies_[i]).schedules;
        }
    }

    function rxCount() external view returns (uint256) {
        return rxIds.length;
    }

    function _ghostActive(address account) internal view returns (bool) {
        return ghostStatus[account] == GhostStatus.Active && block.timestamp < ghostExpiry[account];
    }

    // ---------------------------------------------------------------- actions

    function issue(
        uint256 prescriberSeed,
        uint256 patientSeed,
        uint256 fills,
        uint256 quantityPerFill,
        uint256 validity,
        uint256 interval,
        uint256 scheduleSeed,
        uint256 pharmacySeed
    ) external {
        address prescriber = prescribers[prescriberSeed % prescribers.length];
        address patient = patients[patientSeed % patients.length];
        uint8[6] memory schedules = [0, 0, 2, 3, 4, 5];
        uint8 schedule = schedules[scheduleSeed % schedules.length];
        IPrescriptions.RxTerms memory t = IPrescriptions.RxTerms({
            patient: patient,
            prescriber: prescriber,
            contentHash: keccak256(abi.encode("content", rxIds.length)),
            fills: uint8(bound(fills, 1, 6)),
            quantityPerFill: uint32(bound(quantityPerFill, 1, 100)),
            daysSupply: uint16(bound(interval, 1, 12)),
            dateWritten: uint32(block.timestamp),
            earliestFillAt: uint32(block.timestamp),
            validUntil: uint32(block.timestamp + bound(validity, 1, 60 days)),
            minFillInterval: uint32(bound(interval, 0, 10 days)),
            schedule: schedule,
            longTermCare: schedule == 2 && validity % 2 == 0,
            pharmacy: pharmacySeed % 3 == 0 && schedule == 0
                ? address(0)
                : pharmacies[pharmacySeed % pharmacies.length],
            nonce: rxIds.length,
            deadline: uint32(block.timestamp + 1 days)
        });
        bool prescriberActive = _ghostActive(prescriber);
        bool pharmacyOk = t.pharmacy == address(0) || _ghostActive(t.pharmacy);
        bool consented = block.timestamp < ghostConsentUntil[patient][prescriber];
        bool revoked = ghostConsentRevoked[patient][prescriber];

        vm.prank(prescriber);
        try rx.issue(t) returns (bytes32 rxId) {
            if (!prescriberActive || !pharmacyOk) actedWithInactiveCredential++;
            if (!consented) issuedWithoutConsent++;
            if (revoked) issuedAfterConsentRevoked++;
            rxIds.push(rxId);
            ghostAuthorized[rxId] = uint256(t.fills) * t.quantityPerFill;
            ghostValidUntil[rxId] = t.validUntil;
            ghostPrescriber[rxId] = prescriber;
            ghostSchedule[rxId] = t.schedule;
            ghostTerms[rxId] = t;
            issuedCount++;
        } catch {}
    }

    function dispense(uint256 rxSeed, uint256 pharmacySeed, uint256 quantity) external {
        if (rxIds.length == 0) return;
        bytes32 rxId = rxIds[rxSeed % rxIds.length];
        address pharmacy = pharmacies[pharmacySeed % pharmacies.length];
        (IPrescriptions.Rx memory state, uint256 before,) = rx.prescriptionOf(rxId);
        uint32 q = uint32(bound(quantity, 1, uint256(state.quantityPerFill) * 3 / 2));
        bool shortSupply = state.schedule == 2 && quantity % 4 == 1;
        bytes memory call = abi.encodeCall(
            rx.dispense, (rxId, q, before, shortSupply, keccak256(abi.encode(rxId, dispenseCount)))
        );
        _checkDispense(rxId, pharmacy, q, shortSupply, call);
        // The very same transaction sent again (a client retry) never counts twice.
        vm.prank(pharmacy);
        (bool retried,) = address(rx).call(call);
        if (retried && ghostDispensed[rxId] != before) retriedDispenseCounted++;
        if (retried) ghostDispensed[rxId] += q;
    }

    function _checkDispense(bytes32 rxId, address pharmacy, uint32 q, bool shortSupply, bytes memory call)
        internal
    {
        bool closed = ghostCancelled[rxId] || block.timestamp >= ghostValidUntil[rxId];
        bool active = _ghostActive(pharmacy);
        uint8 schedule = ghostSchedule[rxId];
        address prescriber = ghostPrescriber[rxId];
        bool standing = _ghostActive(prescriber)
            && (schedule == 0
                || ((ghostSchedules[prescriber] >> schedule) & 1 == 1
                    && (ghostSchedules[pharmacy] >> schedule) & 1 == 1));
        vm.prank(pharmacy);
        (bool ok,) = address(rx).call(call);
        if (!ok) return;
        if (closed) dispensedWhenCancelledOrExpired++;
        if (!active) actedWithInactiveCredential++;
        if (!standing) dispensedWithoutPrescriberStanding++;
        if (shortSupply && block.timestamp + 72 hours < ghostValidUntil[rxId]) {
            ghostValidUntil[rxId] = block.timestamp + 72 hours; // 21 CFR 1306.13(a)
        }
        ghostDispensed[rxId] += q;
        dispenseCount++;
    }

    /// @dev Cancelled by the prescriber, the patient or the registrar (the kill switch), by turns.
    function cancel(uint256 rxSeed, uint256 reason) external {
        if (rxIds.length == 0) return;
        bytes32 rxId = rxIds[rxSeed % rxIds.length];
        uint256 who = reason % 3;
        if (who == 0) {
            vm.prank(ghostPrescriber[rxId]);
            try rx.cancel(rxId, uint16(reason)) {
                ghostCancelled[rxId] = true;
            } catch {}
        } else if (who == 1) {
            IPrescriptions.RxTerms memory t = ghostTerms[rxId];
            vm.prank(t.patient);
            try rx.cancelAsPatient(t, uint16(reason)) {
                ghostCancelled[rxId] = true;
            } catch {}
        } else {
            vm.prank(registrar);
            try rx.voidPrescription(rxId, uint16(reason)) {
                ghostCancelled[rxId] = true;
            } catch {}
        }
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 10 days));
    }

    function setCredentialStatus(uint256 accountSeed, uint256 action) external {
        address account = accountSeed % 2 == 0
            ? prescribers[(accountSeed / 2) % prescribers.length]
            : pharmacies[(accountSeed / 2) % pharmacies.length];
        vm.startPrank(registrar);
        action = action % 16;
        if (action < 6) {
            try credentials.suspend(account, 1) {
                ghostStatus[account] = GhostStatus.Suspended;
            } catch {}
        } else if (action < 12) {
            try credentials.reinstate(account) {
                ghostStatus[account] = GhostStatus.Active;
            } catch {}
        } else if (action < 13) {
            uint8 schedules = uint8(uint256(keccak256(abi.encode(accountSeed, action))) & 0x3c);
            try credentials.setSchedules(account, schedules) {
                ghostSchedules[account] = schedules;
            } catch {}
        } else if (action < 15) {
            uint256 expiresAt = block.timestamp + 90 days;
            try credentials.renew(account, keccak256("renewed"), uint40(expiresAt)) {
                ghostExpiry[account] = expiresAt;
            } catch {}
        } else {
            try credentials.revoke(account, 2) {
                ghostStatus[account] = GhostStatus.Revoked;
            } catch {}
        }
        vm.stopPrank();
    }

    function grantConsent(uint256 patientSeed, uint256 prescriberSeed, uint256 lifetime) public {
        address patient = patients[patientSeed % patients.length];
        address prescriber = prescribers[prescriberSeed % prescribers.length];
        uint256 expiresAt = block.timestamp + bound(lifetime, 1 days, 120 days);
        vm.prank(patient);
        consent.grant(prescriber, PRESCRIBE, uint40(expiresAt));
        ghostConsentUntil[patient][prescriber] = expiresAt;
        ghostConsentRevoked[patient][prescriber] = false;
    }

    function revokeConsent(uint256 patientSeed, uint256 prescriberSeed) external {
        address patient = patients[patientSeed % patients.length];
        address prescriber = prescribers[prescriberSeed % prescribers.length];
        vm.prank(patient);
        try consent.revoke(prescriber) {
            ghostConsentUntil[patient][prescriber] = 0;
            ghostConsentRevoked[patient][prescriber] = true;
        } catch {}
    }
}
