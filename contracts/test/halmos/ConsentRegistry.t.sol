// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ConsentRegistry} from "../../src/ConsentRegistry.sol";
import {SingleDigestERC1271Wallet} from "../mocks/ERC1271Wallets.sol";
import {Fixture} from "../utils/Fixture.sol";

/// @notice Symbolic tests (halmos, `scripts/halmos`) of consent: each `check_` holds for every value of its
///         parameters. See contracts/test/halmos/Prescriptions.t.sol.
contract ConsentRegistrySymbolicTest is Fixture {
    /// @dev Storage slot of `ConsentRegistry._nonces` (`forge inspect ConsentRegistry storageLayout`).
    uint256 internal constant NONCES_SLOT = 3;

    /// @notice A revoked or expired consent never authorises: for every scope set, expiry, queried scope and
    ///         time, `hasScope` is true only for a subset of the granted scopes, before expiry, not revoked.
    function check_HasScope_RevokedOrExpiredNeverAuthorises(
        uint8 scopes,
        uint40 expiresAt,
        uint8 query,
        bool revoked,
        uint40 time
    ) public {
        vm.prank(patient);
        (bool granted,) = address(consent).call(abi.encodeCall(consent.grant, (nurse, scopes, expiresAt)));
        vm.assume(granted);
        if (revoked) {
            vm.prank(patient);
            consent.revoke(nurse);
        }
        vm.warp(time);
        bool held = consent.hasScope(patient, nurse, query);
        assert(!held || (!revoked && time < expiresAt && query != 0 && query & scopes == query));
    }

    /// @dev The fields of a `Grant` signature.
    struct Signed {
        address grantee;
        uint8 scopes;
        uint40 expiresAt;
        uint40 signedAt;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice A signature is valid only for its signer, chain, contract, nonce and deadline. A patient wallet
    ///         signs one Grant (every field symbolic, nonce included) for this chain and this registry; a second
    ///         wallet would accept the very same digest. A relayer then submits any grant, for either wallet, to
    ///         this registry or to another deployment, on any chain id, at any time, with the patient's stored
    ///         nonce at any value: it succeeds only for the signing wallet, with every signed field, on the
    ///         signed chain and contract, at the signed nonce and before the deadline. The wallet stands for
    ///         the signature check (ECDSA or ERC-1271 both verify the same digest); that ECDSA cannot be forged
    ///         is assumed, not proven, and the ECDSA encoding rules are covered by the adversarial tests.
    function check_GrantWithSig_OnlyForSignedMessage(
        Signed memory signed,
        Signed memory sent,
        bool forOtherPatient,
        uint64 signedChainId,
        uint64 chainId,
        bool otherDeployment,
        uint40 time
    ) public {
        // Both chain ids symbolic and unlike the deployment's: halmos relates two keccak terms over symbolic
        // inputs (injectivity), while a keccak it computed concretely (the domain separator cached at
        // deployment) is an opaque constant that a symbolic term could spuriously equal. EIP712's cache only
        // short-cuts the very same computation, so excluding the deployment chain id loses nothing.
        vm.assume(signedChainId != block.chainid && chainId != block.chainid);
        vm.chainId(signedChainId);
        (address signer, address bystander) = _walletsThatSigned(signed);
        ConsentRegistry target = otherDeployment ? new ConsentRegistry(credentials) : consent;
        address patient_ = forOtherPatient ? bystander : signer;
        // `sent.nonce` is the patient's nonce in the target registry at submission time.
        vm.store(address(target), keccak256(abi.encode(patient_, NONCES_SLOT)), bytes32(sent.nonce));
        vm.chainId(chainId);
        vm.warp(time);
        bool ok = _submit(target, patient_, sent);
        assert(
            !ok
                || (_same(sent, signed)
                    && !forOtherPatient
                    && _sameDomain(chainId, signedChainId, otherDeployment))
        );
        assert(!ok || time < signed.deadline);
    }

    /// @dev Two wallets that both accept the digest of `signed` as signed by the first one, for this registry.
    function _walletsThatSigned(Signed memory signed) internal returns (address signer, address bystander) {
        SingleDigestERC1271Wallet a = new SingleDigestERC1271Wallet();
        SingleDigestERC1271Wallet b = new SingleDigestERC1271Wallet();
        bytes32 digest = _grantDigestAt(
            consent,
            address(a),
            signed.grantee,
            signed.scopes,
            signed.expiresAt,
            signed.signedAt,
            signed.nonce,
            signed.deadline
        );
        a.approve(digest);
        b.approve(digest);
        return (address(a), address(b));
    }

    function _submit(ConsentRegistry target, address patient_, Signed memory sent)
        internal
        returns (bool ok)
    {
        (ok,) = address(target)
            .call(
                abi.encodeCall(
                    target.grantWithSig,
                    (patient_, sent.grantee, sent.scopes, sent.expiresAt, sent.signedAt, sent.deadline, hex"")
                )
            );
    }

    function _same(Signed memory a, Signed memory b) internal pure returns (bool) {
        return a.grantee == b.grantee && a.scopes == b.scopes && a.expiresAt == b.expiresAt
            && a.signedAt == b.signedAt && a.nonce == b.nonce && a.deadline == b.deadline;
    }

    function _sameDomain(uint256 chainId, uint256 signedChain, bool otherDeployment)
        internal
        pure
        returns (bool)
    {
        return chainId == signedChain && !otherDeployment;
    }

    /// @notice Issue 19 point 2: an emergency access is never held past its bound. A prescriber opens one for any
    ///         duration; at any later time the patient may end it; at any later time the prescriber tries to open
    ///         again for any duration; at any later time READ through it holds only within the first access's
    ///         own window, or within a second one opened at least EMERGENCY_COOLDOWN after the first ended.
    function check_EmergencyAccess_NeverBeyondBound(
        uint32 d1,
        bool ended,
        uint40 tEnd,
        uint40 t1,
        uint32 d2,
        uint40 t2
    ) public {
        address stranger_ = makeAddr("patient without consents");
        uint256 start = block.timestamp;
        vm.prank(prescriber2);
        (bool opened,) = address(consent)
            .call(abi.encodeCall(consent.openEmergencyAccess, (stranger_, 1, JUSTIFICATION, d1)));
        vm.assume(opened);
        uint256 end1 = start + d1;
        vm.assume(tEnd >= start && t1 >= tEnd && t2 >= t1);
        if (ended) {
            vm.warp(tEnd);
            vm.prank(stranger_);
            (bool ok,) =
                address(consent).call(abi.encodeCall(consent.endEmergencyAccess, (stranger_, prescriber2)));
            if (ok) end1 = tEnd;
        }
        vm.warp(t1);
        vm.prank(prescriber2);
        (bool again,) = address(consent)
            .call(abi.encodeCall(consent.openEmergencyAccess, (stranger_, 1, JUSTIFICATION, d2)));
        assert(!again || t1 >= end1 + consent.EMERGENCY_COOLDOWN());
        vm.warp(t2);
        bool held = consent.hasScope(stranger_, prescriber2, READ);
        assert(!held || (again ? t2 < uint256(t1) + d2 : t2 < end1));
        assert(d1 <= 24 hours && (!again || d2 <= 24 hours));
    }

    /// @notice Issue 19 point 5: a direct grant or revoke supersedes every older signature. The patient (a wallet
    ///         that signed one Grant, every field symbolic) acts directly at some time; a relay at any later time
    ///         succeeds only for a signature dated after that direct action.
    function check_GrantWithSig_NeverOlderThanDirectChange(Signed memory signed, uint40 tDirect, uint40 t)
        public
    {
        vm.assume(tDirect >= block.timestamp && t >= tDirect);
        (address wallet,) = _walletsThatSigned(signed);
        vm.warp(tDirect);
        vm.prank(wallet);
        consent.grant(
            signed.grantee == address(0) || signed.grantee == wallet ? nurse : signed.grantee,
            READ,
            type(uint40).max
        );
        vm.store(address(consent), keccak256(abi.encode(wallet, NONCES_SLOT)), bytes32(signed.nonce));
        vm.warp(t);
        bool ok = _submit(consent, wallet, signed);
        assert(!ok || signed.signedAt > tDirect);
    }
}
