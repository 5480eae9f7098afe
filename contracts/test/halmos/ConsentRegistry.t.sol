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
}
