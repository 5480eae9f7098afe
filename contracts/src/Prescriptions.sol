// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";
import {ICredentialRegistry} from "./interfaces/ICredentialRegistry.sol";
import {IPrescriptions} from "./interfaces/IPrescriptions.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title Prescriptions
/// @notice Auditable e-prescriptions with US controlled-substance rules, partial fills and refills.
/// @dev The prescriber signs the EIP-712 `Prescription` typed data, whose nested `PrescriptionContent` holds the
///      clinical content; the chain only ever receives that content's struct hash. rxId is the typed-data
///      digest. Each prescription is a single packed storage slot.
contract Prescriptions is IPrescriptions, EIP712 {
    /// @notice EIP-712 type hash of the nested clinical content type.
    bytes32 public constant PRESCRIPTION_CONTENT_TYPEHASH = keccak256(
        "PrescriptionContent(string patientName,string patientIdentifier,string rxnormCode,string drugName,"
        "string strength,string dosageInstructions,uint32 quantity,string unit,bool substitutionAllowed,"
        "bytes32 salt)"
    );
    /// @notice EIP-712 type hash of `Prescription` (primary type followed by the referenced PrescriptionContent).
    bytes32 public constant PRESCRIPTION_TYPEHASH = keccak256(
        "Prescription(address patient,address prescriber,PrescriptionContent content,uint8 fills,"
        "uint32 quantityPerFill,uint32 earliestFillAt,uint32 validUntil,uint32 minFillInterval,uint8 schedule,"
        "address pharmacy,uint256 nonce)"
        "PrescriptionContent(string patientName,string patientIdentifier,string rxnormCode,string drugName,"
        "string strength,string dosageInstructions,uint32 quantity,string unit,bool substitutionAllowed,"
        "bytes32 salt)"
    );

    /// @notice Schedule II: a prescription (all partial fills included) ends 30 days after issue.
    uint256 public constant SCHEDULE_II_MAX_VALIDITY = 30 days;
    /// @notice Schedules III–IV: valid at most 180 days after issue.
    uint256 public constant SCHEDULE_III_IV_MAX_VALIDITY = 180 days;
    /// @notice Schedules III–IV: at most 6 fills (5 refills).
    uint8 public constant SCHEDULE_III_IV_MAX_FILLS = 6;

    uint8 internal constant PRESCRIBE = 4;

    /// @notice The credential registry (prescriber and pharmacy licenses).
    ICredentialRegistry public immutable CREDENTIALS;
    /// @notice The consent registry (patient's PRESCRIBE consent).
    IConsentRegistry public immutable CONSENT;

    mapping(bytes32 rxId => Rx) internal _rxs;

    /// @notice Deploys the contract.
    /// @param credentials The CredentialRegistry.
    /// @param consent The ConsentRegistry.
    constructor(ICredentialRegistry credentials, IConsentRegistry consent)
        EIP712("medledger Prescriptions", "1")
    {
        CREDENTIALS = credentials;
        CONSENT = consent;
    }

    /// @inheritdoc IPrescriptions
    function issue(RxTerms calldata terms) external returns (bytes32 rxId) {
        if (msg.sender != terms.prescriber) {
            revert Prescriptions__CallerNotPrescriber(msg.sender, terms.prescriber);
        }
        rxId = _rxId(terms);
        _issue(rxId, terms);
    }

    /// @inheritdoc IPrescriptions
    function issueWithSig(RxTerms calldata terms, bytes calldata signature) external returns (bytes32 rxId) {
        rxId = _rxId(terms);
        if (!SignatureChecker.isValidSignatureNowCalldata(terms.prescriber, rxId, signature)) {
            revert Prescriptions__InvalidSignature(rxId, terms.prescriber);
        }
        _issue(rxId, terms);
    }

    /// @inheritdoc IPrescriptions
    function cancel(bytes32 rxId, uint16 reasonCode) external {
        Rx storage rx = _existing(rxId);
        if (rx.cancelled) revert Prescriptions__PrescriptionCancelled(rxId);
        if (CREDENTIALS.idOf(msg.sender) != rx.prescriberId) {
            revert Prescriptions__NotIssuingPrescriber(rxId, msg.sender);
        }
        rx.cancelled = true;
        emit PrescriptionCancelled(rxId, msg.sender, reasonCode);
    }

    /// @inheritdoc IPrescriptions
    function changePharmacy(RxTerms calldata terms, address newPharmacy) external {
        bytes32 rxId = _rxId(terms);
        Rx storage rx = _existing(rxId);
        if (msg.sender != terms.patient) revert Prescriptions__NotPatient(rxId, msg.sender);
        if (rx.cancelled) revert Prescriptions__PrescriptionCancelled(rxId);
        uint32 validUntil = rx.validUntil;
        if (block.timestamp > validUntil) {
            revert Prescriptions__PrescriptionExpired(rxId, validUntil, block.timestamp);
        }
        uint32 previousId = rx.pharmacyId;
        uint32 newId = newPharmacy == address(0) ? 0 : CREDENTIALS.activePharmacyId(newPharmacy);
        if (newId == previousId) revert Prescriptions__PharmacyUnchanged(rxId, newPharmacy);
        rx.pharmacyId = newId;
        address previous = previousId == 0 ? address(0) : CREDENTIALS.accountOf(previousId);
        emit PharmacyChanged(rxId, msg.sender, newPharmacy, previous);
    }

    /// @inheritdoc IPrescriptions
    function dispense(bytes32 rxId, uint32 quantity, bytes32 dispenseHash) external {
        uint32 pharmacyId = CREDENTIALS.activePharmacyId(msg.sender);
        Rx memory rx = _rxs[rxId];
        if (rx.fills == 0) revert Prescriptions__UnknownPrescription(rxId);
        if (rx.cancelled) revert Prescriptions__PrescriptionCancelled(rxId);
        if (block.timestamp > rx.validUntil) {
            revert Prescriptions__PrescriptionExpired(rxId, rx.validUntil, block.timestamp);
        }
        if (rx.pharmacyId != 0 && rx.pharmacyId != pharmacyId) {
            revert Prescriptions__WrongPharmacy(rxId, rx.pharmacyId, pharmacyId);
        }
        if (quantity == 0) revert Prescriptions__ZeroQuantity(rxId);

        if (rx.fillsUsed != 0 && rx.openFillDispensed < rx.quantityPerFill) {
            // Complete part of the open fill: no interval check.
            uint256 remaining = rx.quantityPerFill - rx.openFillDispensed;
            if (quantity > remaining) revert Prescriptions__QuantityExceeded(rxId, quantity, remaining);
            rx.openFillDispensed += quantity;
        } else {
            // Open a new fill.
            if (rx.fillsUsed >= rx.fills) revert Prescriptions__NoFillsRemaining(rxId, rx.fills);
            if (block.timestamp < rx.nextFillAt) {
                revert Prescriptions__TooEarly(rxId, rx.nextFillAt, block.timestamp);
            }
            if (quantity > rx.quantityPerFill) {
                revert Prescriptions__QuantityExceeded(rxId, quantity, rx.quantityPerFill);
            }
            rx.fillsUsed += 1;
            rx.openFillDispensed = quantity;
            uint256 next = block.timestamp + rx.minFillInterval;
            // forge-lint: disable-next-line(unsafe-typecast) -- clamped to type(uint32).max just before.
            rx.nextFillAt = next > type(uint32).max ? type(uint32).max : uint32(next);
        }
        _rxs[rxId] = rx;
        emit PrescriptionDispensed(
            rxId, msg.sender, rx.fillsUsed, quantity, rx.openFillDispensed, _totalDispensed(rx), dispenseHash
        );
    }

    /// @inheritdoc IPrescriptions
    function hashPrescription(RxTerms calldata terms) external view returns (bytes32 rxId) {
        return _rxId(terms);
    }

    /// @inheritdoc IPrescriptions
    function hashContent(PrescriptionContent calldata content) external pure returns (bytes32) {
        bytes memory head = abi.encode(
            PRESCRIPTION_CONTENT_TYPEHASH,
            keccak256(bytes(content.patientName)),
            keccak256(bytes(content.patientIdentifier)),
            keccak256(bytes(content.rxnormCode)),
            keccak256(bytes(content.drugName)),
            keccak256(bytes(content.strength))
        );
        bytes memory tail = abi.encode(
            keccak256(bytes(content.dosageInstructions)),
            content.quantity,
            keccak256(bytes(content.unit)),
            content.substitutionAllowed,
            content.salt
        );
        return keccak256(bytes.concat(head, tail));
    }

    /// @inheritdoc IPrescriptions
    function prescriptionOf(bytes32 rxId)
        external
        view
        returns (Rx memory rx, uint256 totalDispensed, uint256 totalAuthorized)
    {
        rx = _rxs[rxId];
        totalDispensed = _totalDispensed(rx);
        totalAuthorized = uint256(rx.fills) * rx.quantityPerFill;
    }

    /// @notice The EIP-712 domain separator (chain id and this contract's address included).
    /// @return The domain separator.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _issue(bytes32 rxId, RxTerms calldata t) internal {
        _checkTerms(t);
        if (_rxs[rxId].fills != 0) revert Prescriptions__AlreadyIssued(rxId);

        (uint32 prescriberId, uint8 schedules) = CREDENTIALS.prescriberAuthority(t.prescriber);
        if (t.schedule != 0 && (schedules >> t.schedule) & 1 == 0) {
            revert Prescriptions__ScheduleNotAuthorized(t.prescriber, t.schedule, schedules);
        }
        uint32 pharmacyId = t.pharmacy == address(0) ? 0 : CREDENTIALS.activePharmacyId(t.pharmacy);
        if (!CONSENT.hasScope(t.patient, t.prescriber, PRESCRIBE)) {
            revert Prescriptions__ConsentMissing(t.patient, t.prescriber);
        }

        _rxs[rxId] = Rx({
            prescriberId: prescriberId,
            pharmacyId: pharmacyId,
            fills: t.fills,
            fillsUsed: 0,
            schedule: t.schedule,
            cancelled: false,
            quantityPerFill: t.quantityPerFill,
            openFillDispensed: 0,
            nextFillAt: t.earliestFillAt,
            validUntil: t.validUntil,
            minFillInterval: t.minFillInterval
        });
        emit PrescriptionIssued(
            rxId,
            t.patient,
            t.prescriber,
            t.contentHash,
            t.pharmacy,
            t.fills,
            t.quantityPerFill,
            t.earliestFillAt,
            t.validUntil,
            t.minFillInterval,
            t.schedule,
            t.nonce,
            msg.sender
        );
    }

    /// @dev Validates the numeric terms, including the US controlled-substance rules.
    function _checkTerms(RxTerms calldata t) internal view {
        if (t.patient == address(0)) revert Prescriptions__ZeroPatient();
        uint8 schedule = t.schedule;
        if (schedule == 1 || schedule > 5) revert Prescriptions__InvalidSchedule(schedule);
        bool limited = schedule == 3 || schedule == 4;
        uint8 maxFills = schedule == 2 ? 1 : limited ? SCHEDULE_III_IV_MAX_FILLS : type(uint8).max;
        if (t.fills == 0 || t.fills > maxFills) {
            revert Prescriptions__InvalidFills(schedule, t.fills, maxFills);
        }
        if (t.quantityPerFill == 0) revert Prescriptions__ZeroQuantityPerFill();
        if (t.earliestFillAt >= t.validUntil) {
            revert Prescriptions__InvalidFillWindow(t.earliestFillAt, t.validUntil);
        }
        if (t.validUntil <= block.timestamp) {
            revert Prescriptions__ValidUntilPassed(t.validUntil, block.timestamp);
        }
        uint256 maxValidity =
            schedule == 2 ? SCHEDULE_II_MAX_VALIDITY : limited ? SCHEDULE_III_IV_MAX_VALIDITY : 0;
        if (maxValidity != 0 && t.validUntil > block.timestamp + maxValidity) {
            revert Prescriptions__ValidityTooLong(schedule, t.validUntil, block.timestamp + maxValidity);
        }
    }

    /// @dev rxId: EIP-712 digest. `RxTerms` is static and laid out like `Prescription` with the nested content
    ///      replaced by its struct hash, so `abi.encode(typehash, terms)` is exactly the EIP-712 `encodeData`.
    function _rxId(RxTerms calldata terms) internal view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(PRESCRIPTION_TYPEHASH, terms)));
    }

    function _existing(bytes32 rxId) internal view returns (Rx storage rx) {
        rx = _rxs[rxId];
        if (rx.fills == 0) revert Prescriptions__UnknownPrescription(rxId);
    }

    function _totalDispensed(Rx memory rx) internal pure returns (uint256) {
        if (rx.fillsUsed == 0) return 0;
        return uint256(rx.fillsUsed - 1) * rx.quantityPerFill + rx.openFillDispensed;
    }
}
