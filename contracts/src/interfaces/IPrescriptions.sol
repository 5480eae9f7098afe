// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IPrescriptions
/// @notice Auditable e-prescriptions: a prescriber issues an EIP-712 prescription whose clinical content stays
///         off chain (only its struct hash is submitted); pharmacies record dispenses against it.
/// @dev rxId is the EIP-712 digest of the `Prescription` typed data (the very digest the prescriber's wallet
///      signs), so it is unique per chain and deployment. One packed storage slot per prescription.
interface IPrescriptions {
    /// @notice Off-chain clinical content. Never sent on chain; only its EIP-712 struct hash (`contentHash`) is.
    struct PrescriptionContent {
        string patientName;
        string patientIdentifier;
        string rxnormCode;
        string drugName;
        string strength;
        string dosageInstructions;
        uint32 quantity;
        string unit;
        bool substitutionAllowed;
        bytes32 salt;
    }

    /// @notice The signed terms of a prescription, with the content replaced by its struct hash.
    /// @param patient The patient.
    /// @param prescriber The issuing prescriber (signer).
    /// @param contentHash EIP-712 struct hash of the `PrescriptionContent`.
    /// @param fills Number of fills authorised (1 = no refills), 1..255.
    /// @param quantityPerFill Units per fill.
    /// @param earliestFillAt First fill allowed at or after this timestamp.
    /// @param validUntil No dispense after this timestamp.
    /// @param minFillInterval Seconds between the start of one fill and the start of the next.
    /// @param schedule Controlled-substance schedule: 0 (none) or 2..5.
    /// @param pharmacy Designated pharmacy, or address(0) for any active pharmacy.
    /// @param nonce Any value chosen by the prescriber to make otherwise identical terms distinct.
    struct RxTerms {
        address patient;
        address prescriber;
        bytes32 contentHash;
        uint8 fills;
        uint32 quantityPerFill;
        uint32 earliestFillAt;
        uint32 validUntil;
        uint32 minFillInterval;
        uint8 schedule;
        address pharmacy;
        uint256 nonce;
    }

    /// @notice On-chain state of a prescription: exactly one storage slot. Exists iff `fills > 0`.
    /// @param prescriberId CredentialRegistry id of the prescriber.
    /// @param pharmacyId CredentialRegistry id of the designated pharmacy, 0 = any pharmacy.
    /// @param fills Fills authorised.
    /// @param fillsUsed Fills started so far.
    /// @param schedule Controlled-substance schedule.
    /// @param cancelled Whether the prescriber cancelled it.
    /// @param quantityPerFill Units per fill.
    /// @param openFillDispensed Units dispensed in the current (latest) fill.
    /// @param nextFillAt Earliest start of the next fill.
    /// @param validUntil No dispense after this timestamp.
    /// @param minFillInterval Seconds between fill starts.
    struct Rx {
        uint32 prescriberId;
        uint32 pharmacyId;
        uint8 fills;
        uint8 fillsUsed;
        uint8 schedule;
        bool cancelled;
        uint32 quantityPerFill;
        uint32 openFillDispensed;
        uint32 nextFillAt;
        uint32 validUntil;
        uint32 minFillInterval;
    }

    /// @notice A prescription was issued; carries every term so indexers never read storage.
    /// @param relayer The transaction sender (the prescriber itself unless relayed with a signature).
    event PrescriptionIssued(
        bytes32 indexed rxId,
        address indexed patient,
        address indexed prescriber,
        bytes32 contentHash,
        address pharmacy,
        uint8 fills,
        uint32 quantityPerFill,
        uint32 earliestFillAt,
        uint32 validUntil,
        uint32 minFillInterval,
        uint8 schedule,
        uint256 nonce,
        address relayer
    );
    /// @notice The issuing prescriber cancelled a prescription.
    event PrescriptionCancelled(bytes32 indexed rxId, address indexed prescriber, uint16 reasonCode);
    /// @notice The patient changed the designated pharmacy (address(0) = any pharmacy).
    event PharmacyChanged(
        bytes32 indexed rxId, address indexed patient, address indexed pharmacy, address previousPharmacy
    );
    /// @notice A pharmacy dispensed `quantity` units.
    /// @param fillNumber The fill this dispense belongs to, from 1.
    /// @param fillDispensed Units dispensed in that fill so far, this dispense included.
    /// @param totalDispensed Units dispensed over the whole prescription, this dispense included.
    /// @param dispenseHash Salted hash of the pharmacy's dispensing record (not stored).
    event PrescriptionDispensed(
        bytes32 indexed rxId,
        address indexed pharmacy,
        uint8 fillNumber,
        uint32 quantity,
        uint32 fillDispensed,
        uint256 totalDispensed,
        bytes32 dispenseHash
    );

    /// @notice `issue` was called by someone other than `terms.prescriber`.
    error Prescriptions__CallerNotPrescriber(address caller, address prescriber);
    /// @notice The signature is not the prescriber's over the rxId.
    error Prescriptions__InvalidSignature(bytes32 rxId, address prescriber);
    /// @notice The patient is the zero address.
    error Prescriptions__ZeroPatient();
    /// @notice `fills` is 0 or above the maximum for the schedule.
    error Prescriptions__InvalidFills(uint8 schedule, uint8 fills, uint8 maxFills);
    /// @notice `quantityPerFill` is 0.
    error Prescriptions__ZeroQuantityPerFill();
    /// @notice `earliestFillAt` is not before `validUntil`.
    error Prescriptions__InvalidFillWindow(uint32 earliestFillAt, uint32 validUntil);
    /// @notice `validUntil` is not in the future.
    error Prescriptions__ValidUntilPassed(uint32 validUntil, uint256 currentTime);
    /// @notice `schedule` is not 0 or 2..5.
    error Prescriptions__InvalidSchedule(uint8 schedule);
    /// @notice `validUntil` is later than the schedule allows.
    error Prescriptions__ValidityTooLong(uint8 schedule, uint32 validUntil, uint256 maxValidUntil);
    /// @notice The prescriber has no authority for the controlled-substance schedule.
    error Prescriptions__ScheduleNotAuthorized(address prescriber, uint8 schedule, uint8 authorizedSchedules);
    /// @notice The patient has not granted PRESCRIBE to the prescriber (or it expired / was revoked).
    error Prescriptions__ConsentMissing(address patient, address prescriber);
    /// @notice A prescription with these terms already exists.
    error Prescriptions__AlreadyIssued(bytes32 rxId);
    /// @notice No prescription has this id.
    error Prescriptions__UnknownPrescription(bytes32 rxId);
    /// @notice The prescription is cancelled.
    error Prescriptions__PrescriptionCancelled(bytes32 rxId);
    /// @notice The caller is not the prescriber who issued the prescription.
    error Prescriptions__NotIssuingPrescriber(bytes32 rxId, address caller);
    /// @notice The caller is not the prescription's patient.
    error Prescriptions__NotPatient(bytes32 rxId, address caller);
    /// @notice The new pharmacy equals the current one.
    error Prescriptions__PharmacyUnchanged(bytes32 rxId, address pharmacy);
    /// @notice The prescription is past `validUntil`.
    error Prescriptions__PrescriptionExpired(bytes32 rxId, uint32 validUntil, uint256 currentTime);
    /// @notice The caller is not the designated pharmacy.
    error Prescriptions__WrongPharmacy(bytes32 rxId, uint32 designatedPharmacyId, uint32 callerPharmacyId);
    /// @notice A dispense must be of at least one unit.
    error Prescriptions__ZeroQuantity(bytes32 rxId);
    /// @notice The dispense exceeds what remains of the fill.
    error Prescriptions__QuantityExceeded(bytes32 rxId, uint256 requested, uint256 remaining);
    /// @notice Every authorised fill has been started.
    error Prescriptions__NoFillsRemaining(bytes32 rxId, uint8 fills);
    /// @notice The next fill may not start yet.
    error Prescriptions__TooEarly(bytes32 rxId, uint32 nextFillAt, uint256 currentTime);

    /// @notice Issues a prescription; the caller must be `terms.prescriber`.
    /// @param terms The prescription terms.
    /// @return rxId The prescription id (EIP-712 digest of the terms).
    function issue(RxTerms calldata terms) external returns (bytes32 rxId);

    /// @notice Issues a prescription signed by `terms.prescriber` (ECDSA or ERC-1271 over rxId). Anyone may relay.
    /// @param terms The prescription terms.
    /// @param signature The prescriber's signature over rxId.
    /// @return rxId The prescription id.
    function issueWithSig(RxTerms calldata terms, bytes calldata signature) external returns (bytes32 rxId);

    /// @notice Cancels a prescription. Caller: the issuing prescriber's account (even if suspended).
    /// @param rxId The prescription.
    /// @param reasonCode Off-chain reason code.
    function cancel(bytes32 rxId, uint16 reasonCode) external;

    /// @notice Changes the designated pharmacy. Caller: the patient, who proves the terms.
    /// @param terms The prescription terms (hashed to find the prescription).
    /// @param newPharmacy An active pharmacy, or address(0) for any pharmacy.
    function changePharmacy(RxTerms calldata terms, address newPharmacy) external;

    /// @notice Records a dispense by the caller, an active pharmacy (the designated one if set).
    /// @param rxId The prescription.
    /// @param quantity Units dispensed, > 0.
    /// @param dispenseHash Salted hash of the dispensing record (emitted, not stored).
    function dispense(bytes32 rxId, uint32 quantity, bytes32 dispenseHash) external;

    /// @notice The rxId of a set of terms (EIP-712 digest under this contract's domain).
    /// @param terms The prescription terms.
    /// @return rxId The digest.
    function hashPrescription(RxTerms calldata terms) external view returns (bytes32 rxId);

    /// @notice The EIP-712 struct hash of clinical content: the `contentHash` of the terms. Meant for eth_call.
    /// @param content The clinical content.
    /// @return The struct hash.
    function hashContent(PrescriptionContent calldata content) external pure returns (bytes32);

    /// @notice A prescription's state and derived totals.
    /// @param rxId The prescription.
    /// @return rx The stored state (all zero if unknown).
    /// @return totalDispensed Units dispensed so far.
    /// @return totalAuthorized `fills * quantityPerFill`.
    function prescriptionOf(bytes32 rxId)
        external
        view
        returns (Rx memory rx, uint256 totalDispensed, uint256 totalAuthorized);
}
