// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IPrescriptions
/// @notice Auditable e-prescriptions: a prescriber issues an EIP-712 prescription whose clinical content stays
///         off chain (only its struct hash is submitted); pharmacies record dispenses against it.
/// @dev rxId is the EIP-712 digest of the `Prescription` typed data (the very digest the prescriber's wallet
///      signs), so it is unique per chain and deployment. One packed storage slot per prescription. Time
///      boundaries, as in every medledger contract: a window [start, end) includes its start and excludes its end
///      (`earliestFillAt` inclusive, `validUntil` and `deadline` exclusive).
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

    /// @notice Who cancelled a prescription.
    enum Canceller {
        Prescriber,
        Patient,
        Registrar
    }

    /// @notice The signed terms of a prescription, with the content replaced by its struct hash.
    /// @param patient The patient.
    /// @param prescriber The issuing prescriber (signer).
    /// @param contentHash EIP-712 struct hash of the `PrescriptionContent`.
    /// @param fills Number of fills authorised (1 = no refills), 1..255.
    /// @param quantityPerFill Units per fill.
    /// @param daysSupply Days one fill lasts; required (non-zero) for a controlled substance. Schedule II: the
    ///        fill must end within 90 days of `dateWritten` (21 CFR 1306.12(b)); schedules III/IV: refills at
    ///        least 3/4 of it apart.
    /// @param dateWritten When the prescriber wrote and signed the prescription (at most the issue time): every
    ///        validity limit counts from it.
    /// @param earliestFillAt First fill allowed at or after this timestamp (21 CFR 1306.12(b) for schedule II).
    /// @param validUntil No dispense at or after this timestamp.
    /// @param minFillInterval Seconds between the start of one fill and the start of the next.
    /// @param schedule Controlled-substance schedule: 0 (none) or 2..5.
    /// @param longTermCare Schedule II only: the patient is in a long-term-care facility or terminally ill, so
    ///        partial fills may run 60 days instead of 30 (21 CFR 1306.13(b)).
    /// @param pharmacy Designated pharmacy, or address(0) for any active pharmacy (schedule 0 only: a controlled
    ///        substance is sent to one pharmacy).
    /// @param nonce Chosen by the prescriber; a signature whose nonce is below `nonceFloor(prescriber)` can no
    ///        longer be relayed (tools use increasing nonces).
    /// @param deadline The prescription must be issued (or the signature relayed) while `block.timestamp <
    ///        deadline`.
    struct RxTerms {
        address patient;
        address prescriber;
        bytes32 contentHash;
        uint8 fills;
        uint32 quantityPerFill;
        uint16 daysSupply;
        uint32 dateWritten;
        uint32 earliestFillAt;
        uint32 validUntil;
        uint32 minFillInterval;
        uint8 schedule;
        bool longTermCare;
        address pharmacy;
        uint256 nonce;
        uint32 deadline;
    }

    /// @notice On-chain state of a prescription: exactly one storage slot. Exists iff `fills > 0`.
    /// @param prescriberId CredentialRegistry id of the prescriber.
    /// @param pharmacyId CredentialRegistry id of the designated pharmacy, 0 = any pharmacy.
    /// @param fills Fills authorised.
    /// @param fillsUsed Fills started so far.
    /// @param schedule Controlled-substance schedule.
    /// @param flags FLAG_CANCELLED (1): cancelled by the prescriber, the patient or a registrar;
    ///        FLAG_TRANSFERRED (2): a controlled substance's one transfer between pharmacies was used.
    /// @param quantityPerFill Units per fill.
    /// @param openFillDispensed Units dispensed in the current (latest) fill.
    /// @param nextFillAt Earliest start of the next fill.
    /// @param validUntil No dispense at or after this timestamp (moved earlier by a schedule II short-supply
    ///        partial fill: the balance is due within 72 hours, 21 CFR 1306.13(a)).
    /// @param minFillInterval Seconds between fill starts.
    struct Rx {
        uint32 prescriberId;
        uint32 pharmacyId;
        uint8 fills;
        uint8 fillsUsed;
        uint8 schedule;
        uint8 flags;
        uint32 quantityPerFill;
        uint32 openFillDispensed;
        uint32 nextFillAt;
        uint32 validUntil;
        uint32 minFillInterval;
    }

    /// @notice A prescription was issued; carries every term so indexers never read storage.
    /// @param terms The terms, exactly as hashed into rxId.
    /// @param relayer The transaction sender (the prescriber itself unless relayed with a signature).
    event PrescriptionIssued(
        bytes32 indexed rxId,
        address indexed patient,
        address indexed prescriber,
        RxTerms terms,
        address relayer
    );
    /// @notice A prescription was cancelled by its prescriber, its patient or a registrar (`by`, in role `role`).
    event PrescriptionCancelled(bytes32 indexed rxId, address indexed by, Canceller role, uint16 reasonCode);
    /// @notice The patient changed the designated pharmacy (address(0) = any pharmacy).
    /// @param transfer True when this was the controlled substance's one transfer (21 CFR 1306.08(e), 1306.25).
    event PharmacyChanged(
        bytes32 indexed rxId,
        address indexed patient,
        address indexed pharmacy,
        address previousPharmacy,
        bool transfer
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
    /// @notice A schedule II partial fill because the pharmacy is short: the balance is due before `validUntil`
    ///         (72 hours later, 21 CFR 1306.13(a)), which replaces the prescription's end.
    event ShortSupplyBalanceDue(bytes32 indexed rxId, address indexed pharmacy, uint32 validUntil);
    /// @notice `prescriber` raised its nonce floor from `previousFloor` to `newFloor`: every signed prescription
    ///         with a nonce below `newFloor` can no longer be relayed.
    event NoncesInvalidated(address indexed prescriber, uint256 previousFloor, uint256 newFloor);

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
    /// @notice The terms' `deadline` has passed (issue or relay while `block.timestamp < deadline`).
    error Prescriptions__DeadlinePassed(uint32 deadline, uint256 currentTime);
    /// @notice `dateWritten` is after the current block.
    error Prescriptions__WrittenInFuture(uint32 dateWritten, uint256 currentTime);
    /// @notice The signed terms' nonce is below the prescriber's nonce floor: the signature was invalidated.
    error Prescriptions__NonceInvalidated(address prescriber, uint256 nonce, uint256 nonceFloor);
    /// @notice The new nonce floor is not above the current one, or jumps further than MAX_NONCE_JUMP.
    error Prescriptions__InvalidNonceFloor(address prescriber, uint256 currentFloor, uint256 newFloor);
    /// @notice A controlled substance needs a non-zero `daysSupply`.
    error Prescriptions__InvalidDaysSupply(uint8 schedule, uint16 daysSupply);
    /// @notice Schedule II: the supply ends later than 90 days after the date written (21 CFR 1306.12(b)).
    error Prescriptions__SupplyBeyondNinetyDays(
        uint32 earliestFillAt, uint16 daysSupply, uint256 maxSupplyEnd
    );
    /// @notice Schedules III/IV: refills closer than 3/4 of the days' supply.
    error Prescriptions__FillIntervalTooShort(
        uint8 schedule, uint32 minFillInterval, uint256 requiredInterval
    );
    /// @notice `longTermCare` is set on a prescription that is not schedule II.
    error Prescriptions__LongTermCareNotApplicable(uint8 schedule);
    /// @notice A controlled substance must name its pharmacy (address(0), "any pharmacy", is schedule 0 only).
    error Prescriptions__PharmacyRequired(uint8 schedule);
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
    /// @notice The caller does not hold REGISTRAR_ROLE in the CredentialRegistry.
    error Prescriptions__NotRegistrar(bytes32 rxId, address caller);
    /// @notice A controlled substance's one transfer between pharmacies was already used (21 CFR 1306.08(e),
    ///         1306.25(a)).
    error Prescriptions__AlreadyTransferred(bytes32 rxId);
    /// @notice A schedule II prescription may be transferred only before it is filled (21 CFR 1306.08(e)).
    error Prescriptions__TransferAfterFill(bytes32 rxId, uint8 fillsUsed);
    /// @notice The issuing prescriber's credential is no longer active (revoked, suspended or expired).
    error Prescriptions__PrescriberInactive(bytes32 rxId, address prescriber);
    /// @notice The issuing prescriber no longer holds the prescription's schedule.
    error Prescriptions__PrescriberLacksSchedule(
        bytes32 rxId, address prescriber, uint8 schedule, uint8 schedules
    );
    /// @notice The pharmacy's registration does not cover the prescription's schedule.
    error Prescriptions__PharmacyLacksSchedule(
        bytes32 rxId, address pharmacy, uint8 schedule, uint8 schedules
    );
    /// @notice `dispensedBefore` is not the prescription's current total: a retried or raced dispense.
    error Prescriptions__StaleDispense(bytes32 rxId, uint256 dispensedBefore, uint256 totalDispensed);
    /// @notice A short-supply partial fill is a schedule II fill opened with less than its quantity.
    error Prescriptions__ShortSupplyNotApplicable(bytes32 rxId, uint8 schedule);
    /// @notice The new pharmacy equals the current one.
    error Prescriptions__PharmacyUnchanged(bytes32 rxId, address pharmacy);
    /// @notice The prescription is at or past `validUntil`.
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

    /// @notice Cancels her own prescription. Caller: the patient, who proves the terms.
    /// @param terms The prescription terms.
    /// @param reasonCode Off-chain reason code.
    function cancelAsPatient(RxTerms calldata terms, uint16 reasonCode) external;

    /// @notice Voids a prescription (e.g. written with a stolen key). Caller: a CredentialRegistry registrar.
    /// @param rxId The prescription.
    /// @param reasonCode Off-chain reason code.
    function voidPrescription(bytes32 rxId, uint16 reasonCode) external;

    /// @notice Changes the designated pharmacy. Caller: the patient, who proves the terms. For a controlled
    ///         substance this is its one transfer (21 CFR 1306.08(e) and 1306.25(a)): once, to a named pharmacy
    ///         whose registration covers the schedule, and for schedule II only before the first fill.
    /// @param terms The prescription terms (hashed to find the prescription).
    /// @param newPharmacy An active pharmacy, or address(0) for any pharmacy (schedule 0 only).
    function changePharmacy(RxTerms calldata terms, address newPharmacy) external;

    /// @notice Records a dispense by the caller, an active pharmacy (the designated one if set) whose
    ///         registration covers the schedule, of a prescription whose prescriber is still active and still
    ///         holds the schedule.
    /// @param rxId The prescription.
    /// @param quantity Units dispensed, > 0.
    /// @param dispensedBefore The prescription's total dispensed before this dispense, as the pharmacy read it: a
    ///        retried transaction (same dispensing record) finds the total moved and reverts
    ///        `Prescriptions__StaleDispense` instead of counting twice.
    /// @param shortSupply Schedule II, opening a fill with less than its quantity because the pharmacy is short:
    ///        the balance is then due within 72 hours (21 CFR 1306.13(a)). False for a partial fill requested by
    ///        the patient or prescriber, which may run until `validUntil` (30 days, or 60 for long-term care or a
    ///        terminal illness, 1306.13(b)).
    /// @param dispenseHash Salted hash of the dispensing record (emitted, not stored).
    function dispense(
        bytes32 rxId,
        uint32 quantity,
        uint256 dispensedBefore,
        bool shortSupply,
        bytes32 dispenseHash
    ) external;

    /// @notice Raises the caller's (the prescriber's) nonce floor: no signed prescription with a nonce below
    ///         `newFloor` can be relayed any more.
    /// @param newFloor Above the current floor by 1..MAX_NONCE_JUMP (2^32 - 1).
    function invalidateNonces(uint256 newFloor) external;

    /// @notice The lowest nonce a prescriber's signed prescription may still carry.
    /// @param prescriber The prescriber.
    /// @return The floor (0 initially).
    function nonceFloor(address prescriber) external view returns (uint256);

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
