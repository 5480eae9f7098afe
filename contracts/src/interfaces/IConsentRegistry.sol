// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IConsentRegistry
/// @notice Patient-controlled consent: which grantee may read records, write records or prescribe, and until
///         when; plus time-boxed emergency ("break-glass") read access opened by an active prescriber.
/// @dev Scope bits: READ_RECORDS = 1, WRITE_RECORDS = 2, PRESCRIBE = 4. Time boundaries, as in every medledger
///      contract: a window [start, end) includes its start and excludes its end — a grant is effective while
///      `block.timestamp < expiresAt`, a signature is usable while `block.timestamp < deadline`. Emergency
///      access is independent of the consent and counts for READ only.
interface IConsentRegistry {
    /// @notice One patient → grantee entry; a single storage slot.
    /// @param scopes Bitmask of granted scopes (0 = no consent).
    /// @param expiresAt Consent is effective while `block.timestamp < expiresAt`.
    /// @param grantedAt When the consent was (last) granted; 0 if none.
    /// @param emergencyUntil Emergency READ access is open while `block.timestamp < emergencyUntil` (and the
    ///        grantee's prescriber credential is active); after it ended, the start of the cooldown.
    /// @param emergencyOpenedAt When the pair's latest emergency access was opened (0 = never): identifies the
    ///        use a reviewer flags.
    /// @param directChangeAt When the patient last granted or revoked directly: a signed `Grant` or `Revoke`
    ///        must have been signed later (`signedAt > directChangeAt`), so a direct action supersedes every
    ///        older signature for the pair.
    /// @param emergencyBlocked The patient put the grantee on her emergency-access block list.
    struct Grant {
        uint8 scopes;
        uint40 expiresAt;
        uint40 grantedAt;
        uint40 emergencyUntil;
        uint40 emergencyOpenedAt;
        uint40 directChangeAt;
        bool emergencyBlocked;
    }

    /// @notice `patient` granted (or replaced) consent to `grantee`.
    /// @param relayed True when submitted with the patient's signature by a relayer.
    event ConsentGranted(
        address indexed patient, address indexed grantee, uint8 scopes, uint40 expiresAt, bool relayed
    );
    /// @notice `patient` revoked the consent of `grantee` (effective immediately).
    event ConsentRevoked(address indexed patient, address indexed grantee, bool relayed);
    /// @notice An active prescriber (`grantee`) opened emergency READ access to `patient`'s records.
    /// @param reasonCode Non-zero off-chain reason code.
    /// @param justificationHash Salted hash of the written justification (kept off chain, shown to reviewers).
    event EmergencyAccessOpened(
        address indexed patient,
        address indexed grantee,
        uint16 reasonCode,
        bytes32 justificationHash,
        uint40 expiresAt
    );
    /// @notice Emergency access was ended early by the patient or the grantee (`endedBy`), or by the patient
    ///         blocking the grantee.
    event EmergencyAccessEnded(address indexed patient, address indexed grantee, address endedBy);
    /// @notice The patient added `grantee` to (`blocked`) or removed it from her emergency-access block list.
    event EmergencyAccessBlockChanged(address indexed patient, address indexed grantee, bool blocked);
    /// @notice A reviewer flagged the pair's emergency access opened at `openedAt` as questionable.
    /// @param findingCode Non-zero off-chain code of the finding (the review itself stays off chain).
    event EmergencyAccessFlagged(
        address indexed patient,
        address indexed grantee,
        address indexed reviewer,
        uint40 openedAt,
        uint16 findingCode
    );
    /// @notice `patient` moved their signature nonce from `previousNonce` to `newNonce`: every signature over a
    ///         nonce in [previousNonce, newNonce) can no longer be relayed.
    event NoncesInvalidated(address indexed patient, uint256 previousNonce, uint256 newNonce);

    /// @notice The grantee is the zero address or the patient itself.
    error ConsentRegistry__InvalidGrantee(address patient, address grantee);
    /// @notice The scopes are 0 or contain unknown bits.
    error ConsentRegistry__InvalidScopes(uint8 scopes);
    /// @notice The consent expiry is not in the future.
    error ConsentRegistry__InvalidExpiry(uint40 expiresAt, uint256 currentTime);
    /// @notice There is no consent to revoke.
    error ConsentRegistry__NoConsent(address patient, address grantee);
    /// @notice The signature's deadline has passed.
    error ConsentRegistry__SignatureExpired(uint256 deadline, uint256 currentTime);
    /// @notice The signature is not the patient's over the expected typed data (wrong signer, nonce, domain...).
    error ConsentRegistry__InvalidSignature(address patient);
    /// @notice Emergency duration is 0 or longer than the maximum.
    error ConsentRegistry__InvalidEmergencyDuration(uint32 duration, uint32 maxDuration);
    /// @notice No emergency access is open for this pair.
    error ConsentRegistry__NoEmergencyAccess(address patient, address grantee);
    /// @notice Only the patient or the grantee may end emergency access.
    error ConsentRegistry__NotPatientOrGrantee(address caller, address patient, address grantee);
    /// @notice The new nonce is not above the current one, or jumps further than MAX_NONCE_JUMP.
    error ConsentRegistry__InvalidNonce(address patient, uint256 currentNonce, uint256 newNonce);
    /// @notice The patient granted or revoked directly at `directChangeAt`, not before `signedAt`: the direct
    ///         action supersedes this older signature.
    error ConsentRegistry__SignatureSuperseded(
        address patient, address grantee, uint40 signedAt, uint40 directChangeAt
    );
    /// @notice The signature claims to be signed after the current block.
    error ConsentRegistry__SignedInFuture(uint40 signedAt, uint256 currentTime);
    /// @notice Emergency access needs a non-zero reason code and a non-zero justification hash.
    error ConsentRegistry__JustificationMissing(uint16 reasonCode, bytes32 justificationHash);
    /// @notice Emergency access for this pair is still open: it cannot be extended by opening it again.
    error ConsentRegistry__EmergencyAccessAlreadyOpen(
        address patient, address grantee, uint40 emergencyUntil
    );
    /// @notice The pair's previous emergency access ended less than EMERGENCY_COOLDOWN ago.
    error ConsentRegistry__EmergencyAccessCooldown(address patient, address grantee, uint256 availableAt);
    /// @notice The patient blocked this grantee from emergency access.
    error ConsentRegistry__EmergencyAccessBlocked(address patient, address grantee);
    /// @notice The block-list entry already has this value.
    error ConsentRegistry__BlockUnchanged(address patient, address grantee, bool blocked);
    /// @notice The caller does not hold REVIEWER_ROLE in the CredentialRegistry.
    error ConsentRegistry__NotReviewer(address caller);
    /// @notice The pair never had emergency access, so there is no use to flag.
    error ConsentRegistry__NoEmergencyUse(address patient, address grantee);
    /// @notice A flag needs a non-zero finding code.
    error ConsentRegistry__ZeroFindingCode();

    /// @notice Grants (or replaces) consent of the caller (the patient) to `grantee`.
    /// @param grantee The account receiving consent.
    /// @param scopes Bitmask of READ_RECORDS (1), WRITE_RECORDS (2), PRESCRIBE (4); non-zero.
    /// @param expiresAt Expiry timestamp; must be in the future.
    function grant(address grantee, uint8 scopes, uint40 expiresAt) external;

    /// @notice Revokes the caller's (the patient's) consent to `grantee`, immediately.
    /// @param grantee The grantee.
    function revoke(address grantee) external;

    /// @notice Grants consent on behalf of `patient` with the patient's EIP-712 `Grant` signature (ECDSA or
    ///         ERC-1271). Anyone may relay. Consumes the patient's next nonce. Refused if the patient granted
    ///         or revoked directly for this pair at or after `signedAt` (the direct action supersedes it).
    /// @param patient The patient who signed.
    /// @param grantee The account receiving consent.
    /// @param scopes Scope bitmask.
    /// @param expiresAt Consent expiry.
    /// @param signedAt When the patient signed (chain time); at most the current block's timestamp.
    /// @param deadline The signature is usable while `block.timestamp < deadline`.
    /// @param signature The patient's signature over the typed-data digest.
    function grantWithSig(
        address patient,
        address grantee,
        uint8 scopes,
        uint40 expiresAt,
        uint40 signedAt,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Revokes consent on behalf of `patient` with the patient's EIP-712 `Revoke` signature. Anyone may
    ///         relay. Consumes the patient's next nonce. Superseded like `grantWithSig`.
    /// @param patient The patient who signed.
    /// @param grantee The grantee.
    /// @param signedAt When the patient signed (chain time).
    /// @param deadline The signature is usable while `block.timestamp < deadline`.
    /// @param signature The patient's signature over the typed-data digest.
    function revokeWithSig(
        address patient,
        address grantee,
        uint40 signedAt,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Moves the caller's (the patient's) signature nonce forward to `newNonce`, so that no signed
    ///         `Grant` or `Revoke` over a lower nonce can be relayed any more (e.g. a grant signed but not yet
    ///         submitted, which would otherwise stay usable until its deadline).
    /// @param newNonce The next usable nonce: above the current one by 1..MAX_NONCE_JUMP (2^32 - 1).
    function invalidateNonces(uint256 newNonce) external;

    /// @notice Opens emergency READ access to `patient`'s records for the caller, who must be an active
    ///         prescriber not on the patient's block list. Loudly logged. One access per pair at a time (an open
    ///         access cannot be extended), then EMERGENCY_COOLDOWN (7 days) from its end before the next. The
    ///         access lapses as soon as the grantee's prescriber credential stops being active.
    /// @param patient The patient.
    /// @param reasonCode Non-zero off-chain reason code.
    /// @param justificationHash Salted hash of the written justification; non-zero.
    /// @param duration Seconds, 1..MAX_EMERGENCY_DURATION (24 h).
    function openEmergencyAccess(
        address patient,
        uint16 reasonCode,
        bytes32 justificationHash,
        uint32 duration
    ) external;

    /// @notice Ends open emergency access early. Callable by the patient or by the grantee. The cooldown counts
    ///         from this moment.
    /// @param patient The patient.
    /// @param grantee The account holding emergency access.
    function endEmergencyAccess(address patient, address grantee) external;

    /// @notice Adds `grantee` to or removes it from the caller's (the patient's) emergency-access block list.
    ///         Blocking ends an open emergency access at once.
    /// @param grantee The prescriber.
    /// @param blocked True to block.
    function setEmergencyBlock(address grantee, bool blocked) external;

    /// @notice Flags the pair's latest emergency access as questionable. Caller: a CredentialRegistry reviewer.
    ///         Emits `EmergencyAccessFlagged` with the access's `openedAt`; nothing else changes.
    /// @param patient The patient.
    /// @param grantee The prescriber who opened the access.
    /// @param findingCode Non-zero off-chain code of the finding.
    function flagEmergencyAccess(address patient, address grantee, uint16 findingCode) external;

    /// @notice Whether `grantee` currently holds every bit of `scope` for `patient`. Emergency access counts
    ///         when `scope` is exactly READ_RECORDS and the grantee's prescriber credential is active.
    /// @param patient The patient.
    /// @param grantee The grantee.
    /// @param scope Scope bitmask to test (0 always yields false).
    /// @return True if held now.
    function hasScope(address patient, address grantee, uint8 scope) external view returns (bool);

    /// @notice The stored grant for a pair (expired entries are returned as stored).
    /// @param patient The patient.
    /// @param grantee The grantee.
    /// @return The grant.
    function grantOf(address patient, address grantee) external view returns (Grant memory);

    /// @notice The nonce the patient's next `Grant` or `Revoke` signature must carry.
    /// @param patient The patient.
    /// @return The next unused nonce.
    function nonces(address patient) external view returns (uint256);
}
