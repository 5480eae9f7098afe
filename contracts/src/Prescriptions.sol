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
        "uint32 quantityPerFill,uint16 daysSupply,uint32 dateWritten,uint32 earliestFillAt,uint32 validUntil,"
        "uint32 minFillInterval,uint8 schedule,bool longTermCare,address pharmacy,uint256 nonce,uint32 deadline)"
        "PrescriptionContent(string patientName,string patientIdentifier,string rxnormCode,string drugName,"
        "string strength,string dosageInstructions,uint32 quantity,string unit,bool substitutionAllowed,"
        "bytes32 salt)"
    );

    /// @notice Schedule II partial fills requested by the patient or prescriber: within 30 days of the date
    ///         written, or of the earliest fill date for a 1306.12(b) series prescription (21 CFR 1306.13(b)).
    uint256 public constant SCHEDULE_II_MAX_VALIDITY = 30 days;
    /// @notice Schedule II for a long-term-care or terminally ill patient: partial fills within 60 days
    ///         (21 CFR 1306.13(b)).
    uint256 public constant SCHEDULE_II_LTCF_MAX_VALIDITY = 60 days;
    /// @notice Schedule II balance after a short-supply partial fill: within 72 hours (21 CFR 1306.13(a)).
    uint256 public constant SCHEDULE_II_SHORT_SUPPLY_WINDOW = 72 hours;
    /// @notice Schedule II series written the same day: up to a 90-day supply from the date written
    ///         (21 CFR 1306.12(b)).
    uint256 public constant SCHEDULE_II_SERIES_MAX_SUPPLY = 90 days;
    /// @notice Schedules III–V: no dispense six months after the date written (21 CFR 1306.22(a) refills of
    ///         III/IV, 1306.23 partial fills of III–V).
    uint256 public constant SCHEDULE_III_V_MAX_VALIDITY = 180 days;
    /// @notice Schedules III–IV: at most 6 fills (5 refills, 21 CFR 1306.22(a)).
    uint8 public constant SCHEDULE_III_IV_MAX_FILLS = 6;
    /// @notice Largest forward jump of one `invalidateNonces` call (keeps the floor far from overflowing).
    uint256 public constant MAX_NONCE_JUMP = type(uint32).max;
    /// @notice `Rx.flags` bit: cancelled by the prescriber, the patient or a registrar.
    uint8 public constant FLAG_CANCELLED = 1;
    /// @notice `Rx.flags` bit: the controlled substance's one transfer between pharmacies was used.
    uint8 public constant FLAG_TRANSFERRED = 2;

    uint8 internal constant PRESCRIBE = 4;

    /// @notice The credential registry (prescriber and pharmacy licenses).
    ICredentialRegistry public immutable CREDENTIALS;
    /// @notice The consent registry (patient's PRESCRIBE consent).
    IConsentRegistry public immutable CONSENT;

    mapping(bytes32 rxId => Rx) internal _rxs;
    mapping(address prescriber => uint256) internal _nonceFloors;

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
        uint256 floor = _nonceFloors[terms.prescriber];
        if (terms.nonce < floor) {
            revert Prescriptions__NonceInvalidated(terms.prescriber, terms.nonce, floor);
        }
        if (!SignatureChecker.isValidSignatureNowCalldata(terms.prescriber, rxId, signature)) {
            revert Prescriptions__InvalidSignature(rxId, terms.prescriber);
        }
        _issue(rxId, terms);
    }

    /// @inheritdoc IPrescriptions
    function cancel(bytes32 rxId, uint16 reasonCode) external {
        Rx storage rx = _notCancelled(rxId);
        if (CREDENTIALS.idOf(msg.sender) != rx.prescriberId) {
            revert Prescriptions__NotIssuingPrescriber(rxId, msg.sender);
        }
        _cancel(rx, rxId, Canceller.Prescriber, reasonCode);
    }

    /// @inheritdoc IPrescriptions
    function cancelAsPatient(RxTerms calldata terms, uint16 reasonCode) external {
        bytes32 rxId = _rxId(terms);
        Rx storage rx = _notCancelled(rxId);
        if (msg.sender != terms.patient) revert Prescriptions__NotPatient(rxId, msg.sender);
        _cancel(rx, rxId, Canceller.Patient, reasonCode);
    }

    /// @inheritdoc IPrescriptions
    function voidPrescription(bytes32 rxId, uint16 reasonCode) external {
        Rx storage rx = _notCancelled(rxId);
        if (!CREDENTIALS.isRegistrar(msg.sender)) revert Prescriptions__NotRegistrar(rxId, msg.sender);
        _cancel(rx, rxId, Canceller.Registrar, reasonCode);
    }

    /// @inheritdoc IPrescriptions
    function changePharmacy(RxTerms calldata terms, address newPharmacy) external {
        bytes32 rxId = _rxId(terms);
        Rx memory rx = _existing(rxId);
        if (msg.sender != terms.patient) revert Prescriptions__NotPatient(rxId, msg.sender);
        if (rx.flags & FLAG_CANCELLED != 0) revert Prescriptions__PrescriptionCancelled(rxId);
        if (block.timestamp >= rx.validUntil) {
            revert Prescriptions__PrescriptionExpired(rxId, rx.validUntil, block.timestamp);
        }
        uint32 previousId = rx.pharmacyId;
        bool transfer = rx.schedule != 0;
        uint32 newId = 0;
        uint8 newSchedules = 0;
        if (newPharmacy == address(0)) {
            newId = 0;
        } else if (transfer) {
            // The receiving pharmacy's registration must cover the schedule, or the one transfer would be spent
            // on a pharmacy that can never dispense it.
            // slither-disable-next-line unused-return -- only the receiving pharmacy's id and schedules matter.
            (newId, newSchedules,,,) = CREDENTIALS.dispenseAuthority(newPharmacy, rx.prescriberId);
        } else {
            newId = CREDENTIALS.activePharmacyId(newPharmacy);
        }
        if (newId == previousId) revert Prescriptions__PharmacyUnchanged(rxId, newPharmacy);
        if (transfer) {
            // 21 CFR 1306.08(e) (electronic prescriptions, initial fill) and 1306.25(a) (refills): once.
            if (newId == 0) revert Prescriptions__PharmacyRequired(rx.schedule);
            if ((newSchedules >> rx.schedule) & 1 == 0) {
                revert Prescriptions__PharmacyLacksSchedule(rxId, newPharmacy, rx.schedule, newSchedules);
            }
            if (rx.flags & FLAG_TRANSFERRED != 0) revert Prescriptions__AlreadyTransferred(rxId);
            if (rx.schedule == 2 && rx.fillsUsed != 0) {
                revert Prescriptions__TransferAfterFill(rxId, rx.fillsUsed);
            }
            rx.flags |= FLAG_TRANSFERRED;
        }
        rx.pharmacyId = newId;
        _rxs[rxId] = rx;
        address previous = previousId == 0 ? address(0) : CREDENTIALS.accountOf(previousId);
        emit PharmacyChanged(rxId, msg.sender, newPharmacy, previous, transfer);
    }

    /// @inheritdoc IPrescriptions
    function dispense(
        bytes32 rxId,
        uint32 quantity,
        uint256 dispensedBefore,
        bool shortSupply,
        bytes32 dispenseHash
    ) external {
        Rx memory rx = _rxs[rxId];
        _checkDispensable(rxId, rx);
        uint8 schedule = rx.schedule;
        if (quantity == 0) revert Prescriptions__ZeroQuantity(rxId);
        uint256 total = _totalDispensed(rx);
        if (dispensedBefore != total) revert Prescriptions__StaleDispense(rxId, dispensedBefore, total);

        // slither-disable-next-line incorrect-equality -- not field-sensitive: fillsUsed is a counter, not a time.
        bool opening = rx.fillsUsed == 0 || rx.openFillDispensed >= rx.quantityPerFill;
        if (!opening) {
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
        if (shortSupply) {
            // 21 CFR 1306.13(a): a schedule II partial fill because the pharmacy is short; balance in 72 hours.
            if (schedule != 2 || !opening || quantity >= rx.quantityPerFill) {
                revert Prescriptions__ShortSupplyNotApplicable(rxId, schedule);
            }
            uint256 due = block.timestamp + SCHEDULE_II_SHORT_SUPPLY_WINDOW;
            // forge-lint: disable-next-line(unsafe-typecast) -- below validUntil, a uint32, when assigned.
            if (due < rx.validUntil) rx.validUntil = uint32(due);
            emit ShortSupplyBalanceDue(rxId, msg.sender, rx.validUntil);
        }
        _rxs[rxId] = rx;
        emit PrescriptionDispensed(
            rxId, msg.sender, rx.fillsUsed, quantity, rx.openFillDispensed, total + quantity, dispenseHash
        );
    }

    /// @inheritdoc IPrescriptions
    function invalidateNonces(uint256 newFloor) external {
        uint256 current = _nonceFloors[msg.sender];
        if (newFloor <= current || newFloor - current > MAX_NONCE_JUMP) {
            revert Prescriptions__InvalidNonceFloor(msg.sender, current, newFloor);
        }
        _nonceFloors[msg.sender] = newFloor;
        emit NoncesInvalidated(msg.sender, current, newFloor);
    }

    /// @inheritdoc IPrescriptions
    function nonceFloor(address prescriber) external view returns (uint256) {
        return _nonceFloors[prescriber];
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
            flags: 0,
            quantityPerFill: t.quantityPerFill,
            openFillDispensed: 0,
            nextFillAt: t.earliestFillAt,
            validUntil: t.validUntil,
            minFillInterval: t.minFillInterval
        });
        emit PrescriptionIssued(rxId, t.patient, t.prescriber, t, msg.sender);
    }

    /// @dev Validates the numeric terms, including the US controlled-substance rules of 21 CFR 1306. Every
    ///      limit counts from `dateWritten`, never from the (possibly much later) relay.
    function _checkTerms(RxTerms calldata t) internal view {
        if (t.patient == address(0)) revert Prescriptions__ZeroPatient();
        if (block.timestamp >= t.deadline) revert Prescriptions__DeadlinePassed(t.deadline, block.timestamp);
        if (t.dateWritten > block.timestamp) {
            revert Prescriptions__WrittenInFuture(t.dateWritten, block.timestamp);
        }
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
        if (t.longTermCare && schedule != 2) revert Prescriptions__LongTermCareNotApplicable(schedule);
        if (schedule == 0) return;

        if (t.daysSupply == 0) revert Prescriptions__InvalidDaysSupply(schedule, t.daysSupply);
        if (t.pharmacy == address(0)) revert Prescriptions__PharmacyRequired(schedule);
        uint256 maxValidUntil;
        if (schedule == 2) {
            // 1306.12(b): a series written the same day, each with its earliest fill date, up to 90 days' supply.
            uint256 supplyEnd = uint256(t.earliestFillAt) + uint256(t.daysSupply) * 1 days;
            uint256 maxSupplyEnd = uint256(t.dateWritten) + SCHEDULE_II_SERIES_MAX_SUPPLY;
            if (supplyEnd > maxSupplyEnd) {
                revert Prescriptions__SupplyBeyondNinetyDays(t.earliestFillAt, t.daysSupply, maxSupplyEnd);
            }
            // 1306.13(b): partial fills within 30 days (60 for long-term care / terminal illness), counted from
            // the date written or, for a later prescription of a series, from its earliest fill date.
            uint256 start = t.earliestFillAt > t.dateWritten ? t.earliestFillAt : t.dateWritten;
            maxValidUntil =
                start + (t.longTermCare ? SCHEDULE_II_LTCF_MAX_VALIDITY : SCHEDULE_II_MAX_VALIDITY);
        } else {
            // 1306.22(a) (III/IV refills) and 1306.23 (III–V partial fills): nothing after six months.
            maxValidUntil = uint256(t.dateWritten) + SCHEDULE_III_V_MAX_VALIDITY;
            // Refills may not all go out at once: at least 3/4 of the days' supply between fill starts.
            uint256 required = uint256(t.daysSupply) * 1 days * 3 / 4;
            if (limited && t.fills > 1 && t.minFillInterval < required) {
                revert Prescriptions__FillIntervalTooShort(schedule, t.minFillInterval, required);
            }
        }
        if (t.validUntil > maxValidUntil) {
            revert Prescriptions__ValidityTooLong(schedule, t.validUntil, maxValidUntil);
        }
    }

    /// @dev rxId: EIP-712 digest. `RxTerms` is static and laid out like `Prescription` with the nested content
    ///      replaced by its struct hash, so `abi.encode(typehash, terms)` is exactly the EIP-712 `encodeData`.
    function _rxId(RxTerms calldata terms) internal view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(PRESCRIPTION_TYPEHASH, terms)));
    }

    /// @dev Everything but the quantities: the prescription exists, is live and within its window, the caller is
    ///      an active pharmacy (the designated one if set) registered for the schedule, and — the kill switch —
    ///      the prescriber is still active and still holds the schedule. One registry call answers both parties.
    // slither-disable-start incorrect-equality -- not field-sensitive: compares the fills count and schedule bits.
    function _checkDispensable(bytes32 rxId, Rx memory rx) internal view {
        (
            uint32 pharmacyId,
            uint8 pharmacySchedules,
            address prescriber,
            bool prescriberActive,
            uint8 prescriberSchedules
        ) = CREDENTIALS.dispenseAuthority(msg.sender, rx.prescriberId);
        if (rx.fills == 0) revert Prescriptions__UnknownPrescription(rxId);
        if (rx.flags & FLAG_CANCELLED != 0) revert Prescriptions__PrescriptionCancelled(rxId);
        if (block.timestamp >= rx.validUntil) {
            revert Prescriptions__PrescriptionExpired(rxId, rx.validUntil, block.timestamp);
        }
        if (rx.pharmacyId != 0 && rx.pharmacyId != pharmacyId) {
            revert Prescriptions__WrongPharmacy(rxId, rx.pharmacyId, pharmacyId);
        }
        if (!prescriberActive) revert Prescriptions__PrescriberInactive(rxId, prescriber);
        uint8 schedule = rx.schedule;
        if (schedule == 0) return;
        if ((prescriberSchedules >> schedule) & 1 == 0) {
            revert Prescriptions__PrescriberLacksSchedule(rxId, prescriber, schedule, prescriberSchedules);
        }
        if ((pharmacySchedules >> schedule) & 1 == 0) {
            revert Prescriptions__PharmacyLacksSchedule(rxId, msg.sender, schedule, pharmacySchedules);
        }
    }
    // slither-disable-end incorrect-equality

    function _existing(bytes32 rxId) internal view returns (Rx storage rx) {
        rx = _rxs[rxId];
        if (rx.fills == 0) revert Prescriptions__UnknownPrescription(rxId);
    }

    function _notCancelled(bytes32 rxId) internal view returns (Rx storage rx) {
        rx = _existing(rxId);
        if (rx.flags & FLAG_CANCELLED != 0) revert Prescriptions__PrescriptionCancelled(rxId);
    }

    function _cancel(Rx storage rx, bytes32 rxId, Canceller role, uint16 reasonCode) internal {
        rx.flags |= FLAG_CANCELLED;
        emit PrescriptionCancelled(rxId, msg.sender, role, reasonCode);
    }

    function _totalDispensed(Rx memory rx) internal pure returns (uint256) {
        // slither-disable-next-line incorrect-equality -- not field-sensitive: fillsUsed is a counter, not a time.
        if (rx.fillsUsed == 0) return 0;
        return uint256(rx.fillsUsed - 1) * rx.quantityPerFill + rx.openFillDispensed;
    }
}
