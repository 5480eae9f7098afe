// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ICredentialRegistry
/// @notice Licensing authority's registry of prescriber and pharmacy credentials.
/// @dev One credential per account. Ids are sequential from 1, assigned at first registration and never
///      reused. Revocation is final: a revoked account can never be registered again (the holder must be
///      registered under a new account, which gets a new id).
interface ICredentialRegistry {
    /// @notice What a credential authorises.
    enum Kind {
        None,
        Prescriber,
        Pharmacy
    }

    /// @notice Lifecycle state of a credential. `Revoked` is terminal.
    enum Status {
        Active,
        Suspended,
        Revoked
    }

    /// @notice A credential. The first six fields share one storage slot; `licenseHash` uses a second.
    /// @param id Sequential id, from 1; 0 means "not registered".
    /// @param kind Prescriber or Pharmacy.
    /// @param status Active, Suspended or Revoked.
    /// @param expiresAt The credential is active only while `block.timestamp < expiresAt`.
    /// @param schedules Bitmask of controlled-substance schedules (bit n = schedule n, n in 2..5); 0 for pharmacies.
    /// @param jurisdiction Issuing jurisdiction, e.g. "US-CA", right-padded with zeros.
    /// @param licenseHash Salted hash of the license document (the document stays off chain).
    struct Credential {
        uint32 id;
        Kind kind;
        Status status;
        uint40 expiresAt;
        uint8 schedules;
        bytes8 jurisdiction;
        bytes32 licenseHash;
    }

    /// @notice A credential was registered.
    event CredentialRegistered(
        address indexed account,
        uint32 indexed id,
        Kind kind,
        bytes32 licenseHash,
        bytes8 jurisdiction,
        uint40 expiresAt,
        uint8 schedules
    );
    /// @notice A credential was renewed with a new license document hash and expiry.
    event CredentialRenewed(
        address indexed account, uint32 indexed id, bytes32 licenseHash, uint40 expiresAt
    );
    /// @notice A prescriber's controlled-substance schedules changed.
    event CredentialSchedulesChanged(address indexed account, uint32 indexed id, uint8 schedules);
    /// @notice A credential was suspended.
    event CredentialSuspended(address indexed account, uint32 indexed id, uint16 reasonCode);
    /// @notice A suspended credential was reinstated.
    event CredentialReinstated(address indexed account, uint32 indexed id);
    /// @notice A credential was revoked (final).
    event CredentialRevoked(address indexed account, uint32 indexed id, uint16 reasonCode);

    /// @notice The account is the zero address.
    error CredentialRegistry__ZeroAccount();
    /// @notice The account already holds a credential.
    error CredentialRegistry__AlreadyRegistered(address account, uint32 id);
    /// @notice The account holds no credential.
    error CredentialRegistry__NotRegistered(address account);
    /// @notice The kind is `None`.
    error CredentialRegistry__InvalidKind(Kind kind);
    /// @notice The license hash is zero.
    error CredentialRegistry__ZeroLicenseHash(address account);
    /// @notice The jurisdiction is empty.
    error CredentialRegistry__ZeroJurisdiction(address account);
    /// @notice The expiry is not in the future.
    error CredentialRegistry__InvalidExpiry(address account, uint40 expiresAt, uint256 currentTime);
    /// @notice The schedules bitmask is invalid for the kind (bits other than 2..5, or non-zero for a pharmacy).
    error CredentialRegistry__InvalidSchedules(address account, Kind kind, uint8 schedules);
    /// @notice The credential is revoked; revocation is final.
    error CredentialRegistry__CredentialRevoked(address account, uint32 id);
    /// @notice The credential is not in the status the operation requires.
    error CredentialRegistry__InvalidStatus(address account, Status status);
    /// @notice The account does not hold an active credential of that kind.
    error CredentialRegistry__NotActive(address account, Kind kind);

    /// @notice Registers a new credential. Registrar only.
    /// @param account The prescriber's or pharmacy's account.
    /// @param kind Prescriber or Pharmacy.
    /// @param licenseHash Salted hash of the license document.
    /// @param jurisdiction Issuing jurisdiction, e.g. "US-CA".
    /// @param expiresAt Expiry timestamp; must be in the future.
    /// @param schedules Controlled-substance schedules bitmask (bits 2..5); must be 0 for a pharmacy.
    /// @return id The new credential id.
    function register(
        address account,
        Kind kind,
        bytes32 licenseHash,
        bytes8 jurisdiction,
        uint40 expiresAt,
        uint8 schedules
    ) external returns (uint32 id);

    /// @notice Renews a non-revoked credential (a suspended one stays suspended). Registrar only.
    /// @param account The credential holder.
    /// @param licenseHash Salted hash of the renewed license document.
    /// @param expiresAt New expiry timestamp; must be in the future.
    function renew(address account, bytes32 licenseHash, uint40 expiresAt) external;

    /// @notice Sets a non-revoked prescriber's controlled-substance schedules. Registrar only.
    /// @param account The prescriber.
    /// @param schedules Bitmask, bit n = schedule n (n in 2..5).
    function setSchedules(address account, uint8 schedules) external;

    /// @notice Suspends an active credential. Registrar only.
    /// @param account The credential holder.
    /// @param reasonCode Off-chain reason code.
    function suspend(address account, uint16 reasonCode) external;

    /// @notice Reinstates a suspended credential. Registrar only.
    /// @param account The credential holder.
    function reinstate(address account) external;

    /// @notice Revokes a credential for good. Registrar only.
    /// @param account The credential holder.
    /// @param reasonCode Off-chain reason code.
    function revoke(address account, uint16 reasonCode) external;

    /// @notice Whether `account` holds an active, unexpired credential of `kind`.
    /// @param account The account.
    /// @param kind The required kind.
    /// @return True if status is Active, `block.timestamp < expiresAt` and the kind matches.
    function isActive(address account, Kind kind) external view returns (bool);

    /// @notice The credential of `account` (all zero if none).
    /// @param account The account.
    /// @return The credential.
    function credentialOf(address account) external view returns (Credential memory);

    /// @notice The id and schedules of an active prescriber; reverts `CredentialRegistry__NotActive` otherwise.
    /// @param account The prescriber.
    /// @return id The credential id.
    /// @return schedules The controlled-substance schedules bitmask.
    function prescriberAuthority(address account) external view returns (uint32 id, uint8 schedules);

    /// @notice The id of an active pharmacy; reverts `CredentialRegistry__NotActive` otherwise.
    /// @param account The pharmacy.
    /// @return id The credential id.
    function activePharmacyId(address account) external view returns (uint32 id);

    /// @notice The credential id of `account` regardless of status (0 if never registered).
    /// @param account The account.
    /// @return id The credential id.
    function idOf(address account) external view returns (uint32 id);

    /// @notice The account holding credential `id` (address(0) if unassigned).
    /// @param id The credential id.
    /// @return account The holder.
    function accountOf(uint32 id) external view returns (address account);

    /// @notice The number of credentials ever registered (the last id assigned).
    /// @return The count.
    function credentialCount() external view returns (uint32);
}
