// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ICredentialRegistry} from "./interfaces/ICredentialRegistry.sol";
import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";

/// @title CredentialRegistry
/// @notice The licensing authority's registry of prescriber and pharmacy credentials.
/// @dev The default admin (two-step transfer with a delay) manages the REGISTRAR_ROLE, which it can only grant
///      through a proposal that waits the same delay (`proposeRegistrar`, then `appointRegistrar`), and the
///      REVIEWER_ROLE (emergency-access reviewers, granted directly: they can only raise flags); registrars
///      manage credentials. A credential's hot fields share one slot so that a single cold SLOAD answers
///      `prescriberAuthority` and `activePharmacyId`. Revocation is final.
contract CredentialRegistry is ICredentialRegistry, AccessControlDefaultAdminRules {
    /// @notice Role of the licensing authority's registrars.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice Role of the reviewers who audit emergency ("break-glass") accesses and flag misuse.
    bytes32 public constant REVIEWER_ROLE = keccak256("REVIEWER_ROLE");

    /// @dev Bits 2..5: controlled-substance schedules II–V.
    uint8 internal constant SCHEDULES_MASK = 0x3c;

    mapping(address account => Credential) internal _credentials;
    mapping(uint32 id => address account) internal _accounts;
    uint32 internal _lastId;
    mapping(address account => uint48 readyAt) internal _registrarReadyAt;

    /// @notice Deploys the registry.
    /// @param adminDelay Delay (seconds) of the default admin's two-step transfer.
    /// @param admin Initial default admin.
    /// @param registrar Initial registrar (may be address(0) to grant the role later).
    constructor(uint48 adminDelay, address admin, address registrar)
        AccessControlDefaultAdminRules(adminDelay, admin)
    {
        if (registrar != address(0)) _grantRole(REGISTRAR_ROLE, registrar);
    }

    /// @inheritdoc ICredentialRegistry
    function register(
        address account,
        Kind kind,
        bytes32 licenseHash,
        bytes8 jurisdiction,
        uint40 expiresAt,
        uint8 schedules
    ) external onlyRole(REGISTRAR_ROLE) returns (uint32 id) {
        if (account == address(0)) revert CredentialRegistry__ZeroAccount();
        Credential storage c = _credentials[account];
        if (c.kind != Kind.None) {
            if (c.status == Status.Revoked) revert CredentialRegistry__CredentialRevoked(account, c.id);
            revert CredentialRegistry__AlreadyRegistered(account, c.id);
        }
        if (kind == Kind.None) revert CredentialRegistry__InvalidKind(kind);
        if (licenseHash == bytes32(0)) revert CredentialRegistry__ZeroLicenseHash(account);
        if (jurisdiction == bytes8(0)) revert CredentialRegistry__ZeroJurisdiction(account);
        _checkExpiry(account, expiresAt);
        _checkSchedules(account, kind, schedules);

        id = ++_lastId;
        _credentials[account] = Credential({
            id: id,
            kind: kind,
            status: Status.Active,
            expiresAt: expiresAt,
            schedules: schedules,
            jurisdiction: jurisdiction,
            licenseHash: licenseHash
        });
        _accounts[id] = account;
        emit CredentialRegistered(account, id, kind, licenseHash, jurisdiction, expiresAt, schedules);
    }

    /// @inheritdoc ICredentialRegistry
    function renew(address account, bytes32 licenseHash, uint40 expiresAt) external onlyRole(REGISTRAR_ROLE) {
        Credential storage c = _notRevoked(account);
        if (licenseHash == bytes32(0)) revert CredentialRegistry__ZeroLicenseHash(account);
        _checkExpiry(account, expiresAt);
        c.expiresAt = expiresAt;
        c.licenseHash = licenseHash;
        emit CredentialRenewed(account, c.id, licenseHash, expiresAt);
    }

    /// @inheritdoc ICredentialRegistry
    function setSchedules(address account, uint8 schedules) external onlyRole(REGISTRAR_ROLE) {
        Credential storage c = _notRevoked(account);
        _checkSchedules(account, c.kind, schedules);
        c.schedules = schedules;
        emit CredentialSchedulesChanged(account, c.id, schedules);
    }

    /// @inheritdoc ICredentialRegistry
    function suspend(address account, uint16 reasonCode) external onlyRole(REGISTRAR_ROLE) {
        Credential storage c = _notRevoked(account);
        if (c.status != Status.Active) revert CredentialRegistry__InvalidStatus(account, c.status);
        c.status = Status.Suspended;
        emit CredentialSuspended(account, c.id, reasonCode);
    }

    /// @inheritdoc ICredentialRegistry
    function reinstate(address account) external onlyRole(REGISTRAR_ROLE) {
        Credential storage c = _notRevoked(account);
        if (c.status != Status.Suspended) revert CredentialRegistry__InvalidStatus(account, c.status);
        c.status = Status.Active;
        emit CredentialReinstated(account, c.id);
    }

    /// @inheritdoc ICredentialRegistry
    function revoke(address account, uint16 reasonCode) external onlyRole(REGISTRAR_ROLE) {
        Credential storage c = _notRevoked(account);
        c.status = Status.Revoked;
        emit CredentialRevoked(account, c.id, reasonCode);
    }

    /// @inheritdoc ICredentialRegistry
    function proposeRegistrar(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (account == address(0)) revert CredentialRegistry__ZeroAccount();
        if (hasRole(REGISTRAR_ROLE, account) || _registrarReadyAt[account] != 0) {
            revert CredentialRegistry__RegistrarAlreadyProposed(account);
        }
        uint48 readyAt = uint48(block.timestamp) + defaultAdminDelay();
        _registrarReadyAt[account] = readyAt;
        emit RegistrarProposed(account, readyAt);
    }

    /// @inheritdoc ICredentialRegistry
    function appointRegistrar(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint48 readyAt = _registrarReadyAt[account];
        if (readyAt == 0 || block.timestamp < readyAt) {
            revert CredentialRegistry__RegistrarNotReady(account, readyAt, block.timestamp);
        }
        delete _registrarReadyAt[account];
        _grantRole(REGISTRAR_ROLE, account);
    }

    /// @inheritdoc ICredentialRegistry
    function cancelRegistrarProposal(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_registrarReadyAt[account] == 0) {
            revert CredentialRegistry__RegistrarNotReady(account, 0, block.timestamp);
        }
        delete _registrarReadyAt[account];
        emit RegistrarProposalCancelled(account);
    }

    /// @notice Grants a role; REGISTRAR_ROLE only through `proposeRegistrar` and `appointRegistrar`.
    /// @param role The role.
    /// @param account The account.
    function grantRole(bytes32 role, address account) public override {
        if (role == REGISTRAR_ROLE) {
            _checkRole(DEFAULT_ADMIN_ROLE);
            revert CredentialRegistry__RegistrarNeedsProposal(account);
        }
        super.grantRole(role, account);
    }

    /// @inheritdoc ICredentialRegistry
    function registrarReadyAt(address account) external view returns (uint48 readyAt) {
        return _registrarReadyAt[account];
    }

    /// @inheritdoc ICredentialRegistry
    function isRegistrar(address account) external view returns (bool) {
        return hasRole(REGISTRAR_ROLE, account);
    }

    /// @inheritdoc ICredentialRegistry
    function isReviewer(address account) external view returns (bool) {
        return hasRole(REVIEWER_ROLE, account);
    }

    /// @inheritdoc ICredentialRegistry
    function dispenseAuthority(address pharmacy, uint32 prescriberId)
        external
        view
        returns (
            uint32 pharmacyId,
            uint8 pharmacySchedules,
            address prescriber,
            bool prescriberActive,
            uint8 prescriberSchedules
        )
    {
        Credential storage p = _credentials[pharmacy];
        if (!isActive(pharmacy, Kind.Pharmacy)) {
            revert CredentialRegistry__NotActive(pharmacy, Kind.Pharmacy);
        }
        prescriber = _accounts[prescriberId];
        Credential storage d = _credentials[prescriber];
        return (p.id, p.schedules, prescriber, isActive(prescriber, Kind.Prescriber), d.schedules);
    }

    /// @inheritdoc ICredentialRegistry
    function isActive(address account, Kind kind) public view returns (bool) {
        Credential storage c = _credentials[account];
        return
            kind != Kind.None && c.kind == kind && c.status == Status.Active && block.timestamp < c.expiresAt;
    }

    /// @inheritdoc ICredentialRegistry
    function credentialOf(address account) external view returns (Credential memory) {
        return _credentials[account];
    }

    /// @inheritdoc ICredentialRegistry
    function prescriberAuthority(address account) external view returns (uint32 id, uint8 schedules) {
        Credential storage c = _credentials[account];
        if (!isActive(account, Kind.Prescriber)) {
            revert CredentialRegistry__NotActive(account, Kind.Prescriber);
        }
        return (c.id, c.schedules);
    }

    /// @inheritdoc ICredentialRegistry
    function activePharmacyId(address account) external view returns (uint32 id) {
        if (!isActive(account, Kind.Pharmacy)) revert CredentialRegistry__NotActive(account, Kind.Pharmacy);
        return _credentials[account].id;
    }

    /// @inheritdoc ICredentialRegistry
    function idOf(address account) external view returns (uint32 id) {
        return _credentials[account].id;
    }

    /// @inheritdoc ICredentialRegistry
    function accountOf(uint32 id) external view returns (address account) {
        return _accounts[id];
    }

    /// @inheritdoc ICredentialRegistry
    function credentialCount() external view returns (uint32) {
        return _lastId;
    }

    /// @dev The credential of a registered, non-revoked account.
    function _notRevoked(address account) internal view returns (Credential storage c) {
        c = _credentials[account];
        if (c.kind == Kind.None) revert CredentialRegistry__NotRegistered(account);
        if (c.status == Status.Revoked) revert CredentialRegistry__CredentialRevoked(account, c.id);
    }

    function _checkExpiry(address account, uint40 expiresAt) internal view {
        if (expiresAt <= block.timestamp) {
            revert CredentialRegistry__InvalidExpiry(account, expiresAt, block.timestamp);
        }
    }

    function _checkSchedules(address account, Kind kind, uint8 schedules) internal pure {
        if (schedules & ~SCHEDULES_MASK != 0) {
            revert CredentialRegistry__InvalidSchedules(account, kind, schedules);
        }
    }
}
