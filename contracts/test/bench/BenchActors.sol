// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IConsentRegistry} from "../../src/interfaces/IConsentRegistry.sol";
import {IPrescriptions} from "../../src/interfaces/IPrescriptions.sol";
import {IRecordAnchors} from "../../src/interfaces/IRecordAnchors.sol";

/// @title Benchmark actors (not deployed anywhere but a benchmark's devnet)
/// @notice Mass-produce real medledger events for `scripts/bench-indexer`: each actor calls the real contracts
///         in a loop, as the patient, prescriber or pharmacy it is, so every event comes from the medledger
///         addresses and passes the contracts' own checks (roles, credentials, consent).

/// @notice A patient: grants and revokes consent to many grantees, anchors records in its own episode.
contract BenchPatient {
    IConsentRegistry public immutable CONSENT;
    IRecordAnchors public immutable ANCHORS;
    uint64 public episodeId;

    constructor(IConsentRegistry consent, IRecordAnchors anchors) {
        CONSENT = consent;
        ANCHORS = anchors;
    }

    /// @notice One grant (e.g. PRESCRIBE to a prescriber).
    function grant(address grantee, uint8 scopes, uint40 expiresAt) external {
        CONSENT.grant(grantee, scopes, expiresAt);
    }

    /// @notice `count` ConsentGranted to grantees derived from `seed`; every `revokeEvery`-th is revoked again.
    function grantMany(uint256 seed, uint256 count, uint256 revokeEvery, uint40 expiresAt) external {
        for (uint256 i = 0; i < count; ++i) {
            address grantee = address(uint160(uint256(keccak256(abi.encode(seed, i)))));
            CONSENT.grant(grantee, uint8(1 + i % 7), expiresAt);
            if (revokeEvery != 0 && i % revokeEvery == revokeEvery - 1) CONSENT.revoke(grantee);
        }
    }

    /// @notice Opens an episode of care for this patient (once), then anchors `count` records in it.
    function anchorMany(uint256 seed, uint256 count) external {
        uint64 ep = episodeId;
        if (ep == 0) {
            ep = ANCHORS.openEpisode(address(this));
            episodeId = ep;
        }
        for (uint256 i = 0; i < count; ++i) {
            ANCHORS.anchorRecord(ep, keccak256(abi.encode(seed, i)), bytes32(i));
        }
    }
}

/// @notice A credentialed prescriber: issues prescriptions to a patient that granted it PRESCRIBE.
contract BenchPrescriber {
    IPrescriptions public immutable RX;
    bytes32[] public issued;

    constructor(IPrescriptions rx) {
        RX = rx;
    }

    /// @notice Prescriptions issued so far.
    function issuedCount() external view returns (uint256) {
        return issued.length;
    }

    /// @notice Issues `count` prescriptions (nonces `firstNonce`, …) to `patient`, dispensable by any pharmacy.
    function issueMany(address patient, uint256 firstNonce, uint256 count, uint32 validUntil) external {
        for (uint256 i = 0; i < count; ++i) {
            IPrescriptions.RxTerms memory t = IPrescriptions.RxTerms({
                patient: patient,
                prescriber: address(this),
                contentHash: keccak256(abi.encode(firstNonce + i)),
                fills: 3,
                quantityPerFill: 30,
                daysSupply: 30,
                dateWritten: uint32(block.timestamp),
                earliestFillAt: 0,
                validUntil: validUntil,
                minFillInterval: 0,
                schedule: 0,
                longTermCare: false,
                pharmacy: address(0),
                nonce: firstNonce + i,
                deadline: type(uint32).max
            });
            issued.push(RX.issue(t));
        }
    }
}

/// @notice A credentialed pharmacy: dispenses prescriptions a BenchPrescriber issued.
contract BenchPharmacy {
    IPrescriptions public immutable RX;

    constructor(IPrescriptions rx) {
        RX = rx;
    }

    /// @notice Dispenses `quantity` of prescriptions `from`, … `from + count - 1` of `prescriber`.
    function dispenseMany(BenchPrescriber prescriber, uint256 from, uint256 count, uint32 quantity) external {
        for (uint256 i = 0; i < count; ++i) {
            bytes32 rxId = prescriber.issued(from + i);
            (, uint256 dispensed,) = RX.prescriptionOf(rxId);
            RX.dispense(rxId, quantity, dispensed, false, keccak256(abi.encode(from + i, quantity)));
        }
    }
}
