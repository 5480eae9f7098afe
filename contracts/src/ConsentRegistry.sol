// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";
import {ICredentialRegistry} from "./interfaces/ICredentialRegistry.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title ConsentRegistry
/// @notice Patient-controlled consent for reading records, writing records and prescribing, grantable directly
///         or with an EIP-712 signature relayed by anyone, plus loudly-logged, time-boxed emergency READ access.
/// @dev Signatures go through OpenZeppelin's SignatureChecker: ECDSA for EOAs (malleable high-s signatures
///      rejected) and ERC-1271 for smart-wallet patients. Per-patient sequential nonces are consumed on use, and
///      a patient can jump their nonce forward to burn signatures signed but not yet relayed.
contract ConsentRegistry is IConsentRegistry, EIP712 {
    /// @notice Scope bit: read the patient's records.
    uint8 public constant READ_RECORDS = 1;
    /// @notice Scope bit: anchor records and open/close episodes for the patient.
    uint8 public constant WRITE_RECORDS = 2;
    /// @notice Scope bit: issue prescriptions to the patient.
    uint8 public constant PRESCRIBE = 4;
    /// @notice Maximum duration of emergency access.
    uint32 public constant MAX_EMERGENCY_DURATION = 24 hours;
    /// @notice Minimum time between the end of a pair's emergency access and the next one it opens.
    uint32 public constant EMERGENCY_COOLDOWN = 7 days;
    /// @notice Largest forward jump of one `invalidateNonces` call (keeps nonces far from overflowing).
    uint256 public constant MAX_NONCE_JUMP = type(uint32).max;

    /// @notice EIP-712 type hash of `Grant(address patient,address grantee,uint8 scopes,uint40 expiresAt,uint40 signedAt,uint256 nonce,uint256 deadline)`.
    bytes32 public constant GRANT_TYPEHASH = keccak256(
        "Grant(address patient,address grantee,uint8 scopes,uint40 expiresAt,uint40 signedAt,uint256 nonce,"
        "uint256 deadline)"
    );
    /// @notice EIP-712 type hash of `Revoke(address patient,address grantee,uint40 signedAt,uint256 nonce,uint256 deadline)`.
    bytes32 public constant REVOKE_TYPEHASH =
        keccak256("Revoke(address patient,address grantee,uint40 signedAt,uint256 nonce,uint256 deadline)");

    uint8 internal constant ALL_SCOPES = READ_RECORDS | WRITE_RECORDS | PRESCRIBE;

    /// @notice The credential registry consulted for emergency access and its reviewers.
    ICredentialRegistry public immutable CREDENTIALS;

    mapping(address patient => mapping(address grantee => Grant)) internal _grants;
    mapping(address patient => uint256) internal _nonces;

    /// @notice Deploys the registry.
    /// @param credentials The CredentialRegistry.
    constructor(ICredentialRegistry credentials) EIP712("medledger ConsentRegistry", "1") {
        CREDENTIALS = credentials;
    }

    /// @inheritdoc IConsentRegistry
    function grant(address grantee, uint8 scopes, uint40 expiresAt) external {
        _grant(msg.sender, grantee, scopes, expiresAt, false);
    }

    /// @inheritdoc IConsentRegistry
    function revoke(address grantee) external {
        _revoke(msg.sender, grantee, false);
    }

    /// @inheritdoc IConsentRegistry
    function grantWithSig(
        address patient,
        address grantee,
        uint8 scopes,
        uint40 expiresAt,
        uint40 signedAt,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(
                GRANT_TYPEHASH, patient, grantee, scopes, expiresAt, signedAt, _useNonce(patient), deadline
            )
        );
        _checkSignature(patient, grantee, structHash, signedAt, deadline, signature);
        _grant(patient, grantee, scopes, expiresAt, true);
    }

    /// @inheritdoc IConsentRegistry
    function revokeWithSig(
        address patient,
        address grantee,
        uint40 signedAt,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(REVOKE_TYPEHASH, patient, grantee, signedAt, _useNonce(patient), deadline)
        );
        _checkSignature(patient, grantee, structHash, signedAt, deadline, signature);
        _revoke(patient, grantee, true);
    }

    /// @inheritdoc IConsentRegistry
    function invalidateNonces(uint256 newNonce) external {
        uint256 current = _nonces[msg.sender];
        if (newNonce <= current || newNonce - current > MAX_NONCE_JUMP) {
            revert ConsentRegistry__InvalidNonce(msg.sender, current, newNonce);
        }
        _nonces[msg.sender] = newNonce;
        emit NoncesInvalidated(msg.sender, current, newNonce);
    }

    /// @inheritdoc IConsentRegistry
    function openEmergencyAccess(
        address patient,
        uint16 reasonCode,
        bytes32 justificationHash,
        uint32 duration
    ) external {
        if (patient == address(0) || patient == msg.sender) {
            revert ConsentRegistry__InvalidGrantee(patient, msg.sender);
        }
        if (reasonCode == 0 || justificationHash == bytes32(0)) {
            revert ConsentRegistry__JustificationMissing(reasonCode, justificationHash);
        }
        if (duration == 0 || duration > MAX_EMERGENCY_DURATION) {
            revert ConsentRegistry__InvalidEmergencyDuration(duration, MAX_EMERGENCY_DURATION);
        }
        Grant memory g = _grants[patient][msg.sender];
        if (g.emergencyBlocked) revert ConsentRegistry__EmergencyAccessBlocked(patient, msg.sender);
        if (block.timestamp < g.emergencyUntil) {
            revert ConsentRegistry__EmergencyAccessAlreadyOpen(patient, msg.sender, g.emergencyUntil);
        }
        if (g.emergencyOpenedAt != 0 && block.timestamp < uint256(g.emergencyUntil) + EMERGENCY_COOLDOWN) {
            revert ConsentRegistry__EmergencyAccessCooldown(
                patient, msg.sender, uint256(g.emergencyUntil) + EMERGENCY_COOLDOWN
            );
        }
        // slither-disable-next-line unused-return -- called for its revert: only an active prescriber passes.
        CREDENTIALS.prescriberAuthority(msg.sender);
        uint40 expiresAt = uint40(block.timestamp + duration);
        g.emergencyOpenedAt = uint40(block.timestamp);
        g.emergencyUntil = expiresAt;
        _grants[patient][msg.sender] = g;
        emit EmergencyAccessOpened(patient, msg.sender, reasonCode, justificationHash, expiresAt);
    }

    /// @inheritdoc IConsentRegistry
    function endEmergencyAccess(address patient, address grantee) external {
        if (msg.sender != patient && msg.sender != grantee) {
            revert ConsentRegistry__NotPatientOrGrantee(msg.sender, patient, grantee);
        }
        Grant storage g = _grants[patient][grantee];
        if (g.emergencyUntil <= block.timestamp) revert ConsentRegistry__NoEmergencyAccess(patient, grantee);
        g.emergencyUntil = uint40(block.timestamp);
        emit EmergencyAccessEnded(patient, grantee, msg.sender);
    }

    /// @inheritdoc IConsentRegistry
    function setEmergencyBlock(address grantee, bool blocked) external {
        if (grantee == address(0) || grantee == msg.sender) {
            revert ConsentRegistry__InvalidGrantee(msg.sender, grantee);
        }
        Grant memory g = _grants[msg.sender][grantee];
        // slither-disable-next-line incorrect-equality -- not field-sensitive: a flag, not a time.
        if (g.emergencyBlocked == blocked) {
            revert ConsentRegistry__BlockUnchanged(msg.sender, grantee, blocked);
        }
        g.emergencyBlocked = blocked;
        bool wasOpen = blocked && block.timestamp < g.emergencyUntil;
        if (wasOpen) g.emergencyUntil = uint40(block.timestamp);
        _grants[msg.sender][grantee] = g;
        emit EmergencyAccessBlockChanged(msg.sender, grantee, blocked);
        if (wasOpen) emit EmergencyAccessEnded(msg.sender, grantee, msg.sender);
    }

    /// @inheritdoc IConsentRegistry
    function flagEmergencyAccess(address patient, address grantee, uint16 findingCode) external {
        if (!CREDENTIALS.isReviewer(msg.sender)) revert ConsentRegistry__NotReviewer(msg.sender);
        if (findingCode == 0) revert ConsentRegistry__ZeroFindingCode();
        uint40 openedAt = _grants[patient][grantee].emergencyOpenedAt;
        // slither-disable-next-line incorrect-equality -- 0 is the never-opened sentinel, no block has time 0.
        if (openedAt == 0) revert ConsentRegistry__NoEmergencyUse(patient, grantee);
        emit EmergencyAccessFlagged(patient, grantee, msg.sender, openedAt, findingCode);
    }

    /// @inheritdoc IConsentRegistry
    function hasScope(address patient, address grantee, uint8 scope) external view returns (bool) {
        if (scope == 0) return false;
        Grant storage g = _grants[patient][grantee];
        if (g.scopes & scope == scope && block.timestamp < g.expiresAt) return true;
        return scope == READ_RECORDS && block.timestamp < g.emergencyUntil
            && CREDENTIALS.isActive(grantee, ICredentialRegistry.Kind.Prescriber);
    }

    /// @inheritdoc IConsentRegistry
    function grantOf(address patient, address grantee) external view returns (Grant memory) {
        return _grants[patient][grantee];
    }

    /// @inheritdoc IConsentRegistry
    function nonces(address patient) external view returns (uint256) {
        return _nonces[patient];
    }

    /// @notice The EIP-712 domain separator (chain id and this contract's address included).
    /// @return The domain separator.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _grant(address patient, address grantee, uint8 scopes, uint40 expiresAt, bool relayed) internal {
        if (grantee == address(0) || grantee == patient) {
            revert ConsentRegistry__InvalidGrantee(patient, grantee);
        }
        if (scopes == 0 || scopes & ~ALL_SCOPES != 0) revert ConsentRegistry__InvalidScopes(scopes);
        if (expiresAt <= block.timestamp) revert ConsentRegistry__InvalidExpiry(expiresAt, block.timestamp);
        Grant memory g = _grants[patient][grantee];
        g.scopes = scopes;
        g.expiresAt = expiresAt;
        g.grantedAt = uint40(block.timestamp);
        if (!relayed) g.directChangeAt = uint40(block.timestamp);
        _grants[patient][grantee] = g;
        emit ConsentGranted(patient, grantee, scopes, expiresAt, relayed);
    }

    function _revoke(address patient, address grantee, bool relayed) internal {
        Grant memory g = _grants[patient][grantee];
        // slither-disable-next-line incorrect-equality -- not field-sensitive: scopes is a bitmask, not a time.
        if (g.scopes == 0) revert ConsentRegistry__NoConsent(patient, grantee);
        g.scopes = 0;
        g.expiresAt = 0;
        g.grantedAt = 0;
        if (!relayed) g.directChangeAt = uint40(block.timestamp);
        _grants[patient][grantee] = g;
        emit ConsentRevoked(patient, grantee, relayed);
    }

    /// @dev Returns the patient's current nonce and advances it. Nonces grow by one per signature and by at most
    ///      MAX_NONCE_JUMP per invalidation, so they never overflow.
    function _useNonce(address patient) internal returns (uint256 nonce) {
        nonce = _nonces[patient];
        unchecked {
            _nonces[patient] = nonce + 1;
        }
    }

    /// @dev Usable while `block.timestamp < deadline` (the [start, end) convention of every medledger window),
    ///      signed no later than now and after the pair's last direct grant or revoke, by the patient.
    function _checkSignature(
        address patient,
        address grantee,
        bytes32 structHash,
        uint40 signedAt,
        uint256 deadline,
        bytes calldata signature
    ) internal view {
        if (block.timestamp >= deadline) {
            revert ConsentRegistry__SignatureExpired(deadline, block.timestamp);
        }
        if (signedAt > block.timestamp) revert ConsentRegistry__SignedInFuture(signedAt, block.timestamp);
        uint40 directChangeAt = _grants[patient][grantee].directChangeAt;
        if (signedAt <= directChangeAt) {
            revert ConsentRegistry__SignatureSuperseded(patient, grantee, signedAt, directChangeAt);
        }
        if (!SignatureChecker.isValidSignatureNowCalldata(patient, _hashTypedDataV4(structHash), signature)) {
            revert ConsentRegistry__InvalidSignature(patient);
        }
    }
}
