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
    /// @param schedules Bitmask of controlled-substance schedules (bit n = schedule n, n in 2..5): for a prescriber
    ///        the schedules of its DEA registration it may prescribe, for a pharmacy those it may dispense
    ///        (21 CFR 1301.13: a registration names its schedules; Prescriptions checks both at every dispense).
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
    /// @notice A credential's controlled-substance schedules changed.
    event CredentialSchedulesChanged(address indexed account, uint32 indexed id, uint8 schedules);
    /// @notice A credential was suspended.
    event CredentialSuspended(address indexed account, uint32 indexed id, uint16 reasonCode);
    /// @notice A suspended credential was reinstated.
    event CredentialReinstated(address indexed account, uint32 indexed id);
    /// @notice A credential was revoked (final).
    event CredentialRevoked(address indexed account, uint32 indexed id, uint16 reasonCode);
    /// @notice The default admin proposed `account` as a registrar; it can be appointed from `readyAt` on.
    event RegistrarProposed(address indexed account, uint48 readyAt);
    /// @notice The default admin withdrew a registrar proposal before it was appointed.
    event RegistrarProposalCancelled(address indexed account);

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
    /// @notice The schedules bitmask has bits other than 2..5.
    error CredentialRegistry__InvalidSchedules(address account, Kind kind, uint8 schedules);
    /// @notice The credential is revoked; revocation is final.
    error CredentialRegistry__CredentialRevoked(address account, uint32 id);
    /// @notice The credential is not in the status the operation requires.
    error CredentialRegistry__InvalidStatus(address account, Status status);
    /// @notice The account does not hold an active credential of that kind.
    error CredentialRegistry__NotActive(address account, Kind kind);
    /// @notice REGISTRAR_ROLE is granted only through `proposeRegistrar` then, after the admin delay,
    ///         `appointRegistrar`; `grantRole(REGISTRAR_ROLE, …)` always reverts with this error.
    error CredentialRegistry__RegistrarNeedsProposal(address account);
    /// @notice `appointRegistrar` before the proposal's delay elapsed (`readyAt` is 0 when nothing was proposed).
    error CredentialRegistry__RegistrarNotReady(address account, uint48 readyAt, uint256 currentTime);
    /// @notice The account already is a registrar, or already has a pending proposal.
    error CredentialRegistry__RegistrarAlreadyProposed(address account);

    /// @notice Registers a new credential. Registrar only.
    /// @param account The prescriber's or pharmacy's account.
    /// @param kind Prescriber or Pharmacy.
    /// @param licenseHash Salted hash of the license document.
    /// @param jurisdiction Issuing jurisdiction, e.g. "US-CA".
    /// @param expiresAt Expiry timestamp; must be in the future.
    /// @param schedules Controlled-substance schedules bitmask (bits 2..5), for a prescriber or a pharmacy.
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

    /// @notice Sets a non-revoked credential's controlled-substance schedules. Registrar only. Takes effect on
    ///         outstanding prescriptions too: Prescriptions re-checks both parties' schedules at every dispense.
    /// @param account The prescriber or pharmacy.
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

    /// @notice Proposes `account` as a registrar. Default admin only. The appointment takes the admin's own
    ///         transfer delay (`defaultAdminDelay()` at proposal time), so a compromised admin cannot instantly
    ///         mint a registrar that registers rogue prescribers.
    /// @param account The future registrar.
    function proposeRegistrar(address account) external;

    /// @notice Grants REGISTRAR_ROLE to a proposed account once its delay elapsed. Default admin only.
    /// @param account The proposed registrar.
    function appointRegistrar(address account) external;

    /// @notice Withdraws a pending registrar proposal. Default admin only.
    /// @param account The proposed registrar.
    function cancelRegistrarProposal(address account) external;

    /// @notice When a proposed registrar can be appointed (0 if no proposal is pending).
    /// @param account The proposed registrar.
    /// @return readyAt The timestamp from which `appointRegistrar` succeeds.
    function registrarReadyAt(address account) external view returns (uint48 readyAt);

    /// @notice Whether `account` holds REGISTRAR_ROLE (Prescriptions lets registrars void prescriptions).
    /// @param account The account.
    /// @return True if a registrar.
    function isRegistrar(address account) external view returns (bool);

    /// @notice Whether `account` holds REVIEWER_ROLE (ConsentRegistry lets reviewers flag emergency accesses).
    /// @param account The account.
    /// @return True if a reviewer.
    function isReviewer(address account) external view returns (bool);

    /// @notice Everything a dispense must re-check, in one call: the pharmacy's id and schedules (reverts
    ///         `CredentialRegistry__NotActive` if the pharmacy is not active) and the prescriber's current
    ///         standing by credential id (not reverting: the caller reports it with its own error).
    /// @param pharmacy The dispensing pharmacy.
    /// @param prescriberId The issuing prescriber's credential id.
    /// @return pharmacyId The pharmacy's credential id.
    /// @return pharmacySchedules The pharmacy's controlled-substance schedules.
    /// @return prescriber The prescriber's account.
    /// @return prescriberActive Whether the prescriber's credential is active now.
    /// @return prescriberSchedules The prescriber's controlled-substance schedules now.
    function dispenseAuthority(address pharmacy, uint32 prescriberId)
        external
        view
        returns (
            uint32 pharmacyId,
            uint8 pharmacySchedules,
            address prescriber,
            bool prescriberActive,
            uint8 prescriberSchedules
        );

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
