// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ConsentRegistry} from "../../src/ConsentRegistry.sol";
import {IConsentRegistry} from "../../src/interfaces/IConsentRegistry.sol";
import {ICredentialRegistry} from "../../src/interfaces/ICredentialRegistry.sol";
import {
    GasBurningERC1271Wallet,
    HostileRegistry,
    ReentrantERC1271Wallet,
    ReturnBombERC1271Wallet,
    YesERC1271Wallet
} from "../mocks/HostileContracts.sol";
import {Fixture} from "../utils/Fixture.sol";

/// @notice Attacks on consent: signature malleability and replay across chains, contracts and types, malicious
///         ERC-1271 wallets, re-entrancy through every external call, and front-running the patient.
contract ConsentRegistryAdversarialTest is Fixture {
    uint256 internal constant SECP256K1_N =
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    address internal attacker;

    function setUp() public override {
        super.setUp();
        attacker = makeAddr("attacker");
    }

    function _expectInvalidSignature(address patient_) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistry__InvalidSignature.selector, patient_)
        );
    }

    function _grantSig(uint256 key, address patient_, uint256 nonce) internal view returns (bytes memory) {
        return signDigest(
            key, _grantDigest(consent, patient_, nurse, READ, _inDays(30), nonce, block.timestamp + 1 days)
        );
    }

    function _relayGrant(address patient_, bytes memory sig) internal {
        consent.grantWithSig(
            patient_, nurse, READ, _inDays(30), uint40(block.timestamp), block.timestamp + 1 days, sig
        );
    }

    // ---------------------------------------------------------------- malleability

    /// @dev Every (r, s) has a twin (r, n - s) with the other v that ecrecover accepts; only low-s is.
    function testFuzz_RevertWhen_RevokeWithSigHighS(uint256 deadlineOffset) public {
        uint256 deadline = block.timestamp + bound(deadlineOffset, 1, 365 days);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(patientKey, _revokeDigest(patient, prescriber, 0, deadline));
        bytes memory twin =
            abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        _expectInvalidSignature(patient);
        consent.revokeWithSig(patient, prescriber, uint40(block.timestamp), deadline, twin);
    }

    /// @dev The 64-byte EIP-2098 form of a valid signature is a second encoding: rejected, so a signature has one
    ///      accepted encoding.
    function test_RevertWhen_GrantWithSigCompactEncoding() public {
        bytes32 digest = _grantDigest(consent, patient, nurse, READ, _inDays(30), 0, block.timestamp + 1 days);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(patientKey, digest);
        bytes32 vs = bytes32(uint256(s) | (uint256(v - 27) << 255));
        _expectInvalidSignature(patient);
        _relayGrant(patient, abi.encodePacked(r, vs));
    }

    function test_RevertWhen_GrantWithSigRawRecoveryId() public {
        bytes32 digest = _grantDigest(consent, patient, nurse, READ, _inDays(30), 0, block.timestamp + 1 days);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(patientKey, digest);
        _expectInvalidSignature(patient);
        _relayGrant(patient, abi.encodePacked(r, s, v - 27));
    }

    /// @dev ecrecover returns address(0) for garbage: a relayer must not be able to grant "as" address(0).
    function testFuzz_RevertWhen_GrantWithSigForZeroAddress(bytes32 r, bytes32 s, uint8 v) public {
        _expectInvalidSignature(address(0));
        consent.grantWithSig(
            address(0),
            nurse,
            READ,
            _inDays(30),
            uint40(block.timestamp),
            block.timestamp + 1,
            abi.encodePacked(r, s, v)
        );
        vm.assertFalse(consent.hasScope(address(0), nurse, READ));
    }

    // ---------------------------------------------------------------- replay across chains, contracts, types

    /// @dev A chain split: a signature made before the fork is valid on one chain only; the domain separator
    ///      follows `block.chainid`.
    function testFuzz_RevertWhen_RevokeWithSigReplayedOnFork(uint64 forkChainId) public {
        vm.assume(forkChainId != block.chainid);
        bytes memory sig = signDigest(patientKey, _revokeDigest(patient, prescriber, 0, block.timestamp + 1));
        uint256 original = block.chainid;
        vm.chainId(forkChainId);
        _expectInvalidSignature(patient);
        consent.revokeWithSig(patient, prescriber, uint40(block.timestamp), block.timestamp + 1, sig);
        vm.chainId(original);
        consent.revokeWithSig(patient, prescriber, uint40(block.timestamp), block.timestamp + 1, sig);
        vm.assertFalse(consent.hasScope(patient, prescriber, PRESCRIBE));
    }

    /// @dev A signature relayed to one deployment cannot be replayed on another one (same chain, same nonce).
    function test_RevertWhen_RevokeWithSigReplayedOnAnotherDeployment() public {
        ConsentRegistry other = new ConsentRegistry(credentials);
        vm.prank(patient);
        other.grant(prescriber, PRESCRIBE, _inDays(30));
        vm.warp(block.timestamp + 1); // signed after that direct grant, which would supersede it otherwise
        bytes memory sig = signDigest(patientKey, _revokeDigest(patient, prescriber, 0, block.timestamp + 1));
        consent.revokeWithSig(patient, prescriber, uint40(block.timestamp), block.timestamp + 1, sig);
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistry__InvalidSignature.selector, patient)
        );
        other.revokeWithSig(patient, prescriber, uint40(block.timestamp), block.timestamp + 1, sig);
        vm.assertTrue(other.hasScope(patient, prescriber, PRESCRIBE));
    }

    /// @dev Typed data separates the kinds: a Revoke signature over nonce 0 is no Grant over nonce 0.
    function test_RevertWhen_RevokeSignatureRelayedAsGrant() public {
        bytes memory sig = signDigest(patientKey, _revokeDigest(patient, nurse, 0, block.timestamp + 1 days));
        _expectInvalidSignature(patient);
        _relayGrant(patient, sig);
    }

    /// @dev A prescription signed by the patient's own key for the Prescriptions contract is no consent.
    function test_RevertWhen_PrescriptionDigestRelayedAsGrant() public {
        bytes32 rxId = rx.hashPrescription(_terms());
        _expectInvalidSignature(patient);
        _relayGrant(patient, signDigest(patientKey, rxId));
    }

    // ---------------------------------------------------------------- front-running the patient

    /// @dev The patient moves to burn a signed grant; a relayer holding it front-runs in the same block. The
    ///      grant lands, the invalidation then reverts (nonce already past), and revoking is the remedy.
    function test_FrontRun_InvalidateNoncesByRelayingPendingGrant() public {
        bytes memory sig = _grantSig(patientKey, patient, 0);
        vm.prank(relayer);
        _relayGrant(patient, sig); // front-runner, same block
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistry__InvalidNonce.selector, patient, 1, 1)
        );
        vm.prank(patient);
        consent.invalidateNonces(1);
        vm.assertTrue(consent.hasScope(patient, nurse, READ));
        vm.prank(patient);
        consent.revoke(nurse);
        vm.assertFalse(consent.hasScope(patient, nurse, READ));
    }

    /// @dev Front-running a relayer with the same signature changes nothing but who paid: the state is the one
    ///      the patient signed, and the second submission fails.
    function test_FrontRun_RelayedGrantIsIdempotent() public {
        bytes memory sig = _grantSig(patientKey, patient, 0);
        vm.prank(attacker);
        _relayGrant(patient, sig);
        IConsentRegistry.Grant memory g = consent.grantOf(patient, nurse);
        _expectInvalidSignature(patient);
        vm.prank(relayer);
        _relayGrant(patient, sig);
        IConsentRegistry.Grant memory after_ = consent.grantOf(patient, nurse);
        vm.assertEq(after_.scopes, g.scopes);
        vm.assertEq(after_.expiresAt, g.expiresAt);
    }

    // ---------------------------------------------------------------- malicious ERC-1271 wallets

    /// @dev A wallet that re-enters from `isValidSignature` (a second grant to the attacker) is called with
    ///      STATICCALL: the re-entered grant fails, the signed grant lands alone.
    function test_ReentrantWallet_CannotChangeStateDuringValidation() public {
        ReentrantERC1271Wallet wallet = new ReentrantERC1271Wallet();
        wallet.arm(address(consent), abi.encodeCall(consent.grant, (attacker, ALL_SCOPES, _inDays(30))));
        _relayGrant(address(wallet), hex"00");
        vm.assertTrue(consent.hasScope(address(wallet), nurse, READ));
        vm.assertFalse(consent.hasScope(address(wallet), attacker, READ), "re-entered grant landed");
        // The same payload outside a static context succeeds: it failed only because of STATICCALL.
        wallet.fire();
        vm.assertTrue(consent.hasScope(address(wallet), attacker, READ));
    }

    /// @dev A wallet re-entering `grantWithSig` for itself during validation consumes no nonce.
    function test_ReentrantWallet_CannotConsumeNoncesDuringValidation() public {
        ReentrantERC1271Wallet wallet = new ReentrantERC1271Wallet();
        wallet.arm(
            address(consent),
            abi.encodeCall(
                consent.grantWithSig,
                (
                    address(wallet),
                    attacker,
                    READ,
                    _inDays(30),
                    uint40(block.timestamp),
                    block.timestamp + 1,
                    hex""
                )
            )
        );
        _relayGrant(address(wallet), hex"00");
        vm.assertEq(consent.nonces(address(wallet)), 1);
        vm.assertFalse(consent.hasScope(address(wallet), attacker, READ));
    }

    /// @dev A wallet that burns all its gas makes the relayed call fail with InvalidSignature, not hang or
    ///      succeed: 1/64 of the gas is kept back for the revert.
    function test_GasBurningWallet_FailsCleanly() public {
        address wallet = address(new GasBurningERC1271Wallet());
        _expectInvalidSignature(wallet);
        consent.grantWithSig{gas: 2_000_000}(
            wallet, nurse, READ, _inDays(30), uint40(block.timestamp), block.timestamp + 1, hex"00"
        );
    }

    /// @dev A 100 kB return buffer is paid by the wallet's own gas share; the caller copies only the first word.
    function test_ReturnBombWallet_IsBounded() public {
        address wallet = address(new ReturnBombERC1271Wallet());
        uint256 before = gasleft();
        _relayGrant(wallet, hex"00");
        uint256 used = before - gasleft();
        vm.assertTrue(consent.hasScope(wallet, nurse, READ));
        vm.assertLe(used, 150_000, "return bomb inflated the caller's gas");
    }

    /// @dev A wallet that approves everything only ever speaks for itself: it cannot grant for another patient.
    function test_YesWallet_CannotSpeakForAnotherPatient() public {
        address wallet = address(new YesERC1271Wallet());
        bytes memory sig = abi.encodePacked(bytes32(uint256(uint160(wallet))), bytes32(0), uint8(27));
        _expectInvalidSignature(patient);
        _relayGrant(patient, sig);
        _relayGrant(wallet, sig);
        vm.assertTrue(consent.hasScope(wallet, nurse, READ));
        vm.assertFalse(consent.hasScope(patient, nurse, READ));
    }

    // ---------------------------------------------------------------- re-entrancy through the registry call

    /// @dev `openEmergencyAccess` calls the credential registry; a hostile registry re-entering with a grant is
    ///      reached through STATICCALL (the interface is view) and cannot change state.
    function test_HostileCredentials_CannotReenterOpenEmergencyAccess() public {
        HostileRegistry hostile = new HostileRegistry();
        ConsentRegistry victim = new ConsentRegistry(ICredentialRegistry(address(hostile)));
        hostile.arm(address(victim), abi.encodeCall(victim.grant, (attacker, ALL_SCOPES, _inDays(30))));
        vm.prank(prescriber);
        victim.openEmergencyAccess(patient, 1, JUSTIFICATION, 1 hours);
        vm.assertTrue(victim.hasScope(patient, prescriber, READ));
        vm.assertFalse(victim.hasScope(address(hostile), attacker, READ), "re-entered grant landed");
        hostile.fire();
        vm.assertTrue(victim.hasScope(address(hostile), attacker, READ));
    }
}
