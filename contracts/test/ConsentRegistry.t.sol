// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ConsentRegistry} from "../src/ConsentRegistry.sol";
import {IConsentRegistry} from "../src/interfaces/IConsentRegistry.sol";
import {ICredentialRegistry} from "../src/interfaces/ICredentialRegistry.sol";
import {BadMagicERC1271Wallet, MockERC1271Wallet, RevertingERC1271Wallet} from "./mocks/ERC1271Wallets.sol";
import {Fixture} from "./utils/Fixture.sol";

contract ConsentRegistryTest is Fixture {
    uint256 internal constant SECP256K1_N =
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function _signedGrant(uint256 key, address patient_, address grantee, uint40 expiresAt, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        uint256 nonce = consent.nonces(patient_);
        return
            signDigest(
                key, _grantDigest(consent, patient_, grantee, READ | WRITE, expiresAt, nonce, deadline)
            );
    }

    function _expectInvalidSignature(address patient_) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistry__InvalidSignature.selector, patient_)
        );
    }

    // ---------------------------------------------------------------- grant / revoke

    function test_Grant_StoresAndEmits() public {
        uint40 expiresAt = _inDays(30);
        vm.expectEmit(address(consent));
        emit IConsentRegistry.ConsentGranted(patient, nurse, READ | WRITE, expiresAt, false);
        vm.prank(patient);
        consent.grant(nurse, READ | WRITE, expiresAt);

        IConsentRegistry.Grant memory g = consent.grantOf(patient, nurse);
        vm.assertEq(g.scopes, READ | WRITE);
        vm.assertEq(g.expiresAt, expiresAt);
        vm.assertEq(g.grantedAt, block.timestamp);
        vm.assertEq(g.emergencyUntil, 0);
        vm.assertTrue(consent.hasScope(patient, nurse, READ));
        vm.assertTrue(consent.hasScope(patient, nurse, READ | WRITE));
        vm.assertFalse(consent.hasScope(patient, nurse, PRESCRIBE));
        vm.assertFalse(consent.hasScope(patient, nurse, READ | PRESCRIBE));
        vm.assertFalse(consent.hasScope(patient, nurse, 0));
    }

    function test_Grant_ReplacesPreviousGrant() public {
        vm.startPrank(patient);
        consent.grant(nurse, READ | WRITE, _inDays(30));
        vm.warp(block.timestamp + 1 days);
        consent.grant(nurse, READ, _inDays(5));
        vm.stopPrank();
        IConsentRegistry.Grant memory g = consent.grantOf(patient, nurse);
        vm.assertEq(g.scopes, READ);
        vm.assertEq(g.expiresAt, _inDays(5));
        vm.assertEq(g.grantedAt, block.timestamp);
        vm.assertFalse(consent.hasScope(patient, nurse, WRITE));
    }

    function test_RevertWhen_GrantToZeroAddress() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__InvalidGrantee.selector, patient, address(0)
            )
        );
        vm.prank(patient);
        consent.grant(address(0), READ, _inDays(1));
    }

    function test_RevertWhen_GrantToSelf() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__InvalidGrantee.selector, patient, patient
            )
        );
        vm.prank(patient);
        consent.grant(patient, READ, _inDays(1));
    }

    function testFuzz_RevertWhen_GrantInvalidScopes(uint8 scopes) public {
        if (scopes != 0 && scopes <= ALL_SCOPES) scopes |= 0x08; // any unknown bit makes it invalid
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistry__InvalidScopes.selector, scopes)
        );
        vm.prank(patient);
        consent.grant(nurse, scopes, _inDays(1));
    }

    function test_RevertWhen_GrantExpiryNotInFuture() public {
        uint40 expiresAt = uint40(block.timestamp);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__InvalidExpiry.selector, expiresAt, block.timestamp
            )
        );
        vm.prank(patient);
        consent.grant(nurse, READ, expiresAt);
    }

    function testFuzz_HasScope_HonoursExpiry(uint256 lifetime, uint256 elapsed, uint8 scopes) public {
        lifetime = bound(lifetime, 1, 3650 days);
        elapsed = bound(elapsed, 0, 2 * lifetime);
        scopes = uint8(bound(scopes, 1, ALL_SCOPES));
        uint40 expiresAt = uint40(block.timestamp + lifetime);
        vm.prank(patient);
        consent.grant(nurse, scopes, expiresAt);
        vm.warp(block.timestamp + elapsed);
        vm.assertEq(consent.hasScope(patient, nurse, scopes), block.timestamp < expiresAt);
    }

    function test_Revoke_ClearsImmediately() public {
        vm.expectEmit(address(consent));
        emit IConsentRegistry.ConsentRevoked(patient, prescriber, false);
        vm.prank(patient);
        consent.revoke(prescriber);
        vm.assertFalse(consent.hasScope(patient, prescriber, PRESCRIBE));
        IConsentRegistry.Grant memory g = consent.grantOf(patient, prescriber);
        vm.assertEq(g.scopes, 0);
        vm.assertEq(g.expiresAt, 0);
        vm.assertEq(g.grantedAt, 0);
    }

    function test_Revoke_ExpiredGrant() public {
        vm.warp(block.timestamp + 400 days);
        vm.prank(patient);
        consent.revoke(prescriber);
        vm.assertEq(consent.grantOf(patient, prescriber).scopes, 0);
    }

    function test_RevertWhen_RevokeWithoutConsent() public {
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistry__NoConsent.selector, patient, nurse)
        );
        vm.prank(patient);
        consent.revoke(nurse);
    }

    // ---------------------------------------------------------------- grantWithSig / revokeWithSig

    function test_GrantWithSig_RelayedByAnyone() public {
        uint40 expiresAt = _inDays(30);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _signedGrant(patientKey, patient, nurse, expiresAt, deadline);

        vm.expectEmit(address(consent));
        emit IConsentRegistry.ConsentGranted(patient, nurse, READ | WRITE, expiresAt, true);
        vm.prank(relayer);
        consent.grantWithSig(patient, nurse, READ | WRITE, expiresAt, uint40(block.timestamp), deadline, sig);

        vm.assertTrue(consent.hasScope(patient, nurse, READ | WRITE));
        vm.assertEq(consent.nonces(patient), 1);
    }

    /// @dev [start, end) like every medledger window: usable one second before the deadline, not at it.
    function test_GrantWithSig_DeadlineIsExclusive() public {
        uint256 deadline = block.timestamp + 1 hours;
        uint40 signedAt = uint40(block.timestamp);
        uint40 expiresAt = _inDays(30);
        bytes memory sig = _signedGrant(patientKey, patient, nurse, expiresAt, deadline);
        vm.warp(deadline - 1);
        uint256 snapshot = vm.snapshotState();
        consent.grantWithSig(patient, nurse, READ | WRITE, expiresAt, signedAt, deadline, sig);
        vm.revertToState(snapshot);
        vm.warp(deadline);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__SignatureExpired.selector, deadline, deadline
            )
        );
        consent.grantWithSig(patient, nurse, READ | WRITE, expiresAt, signedAt, deadline, sig);
    }

    function test_EIP712_GrantDigestEqualsWalletTypedData() public view {
        uint40 expiresAt = _inDays(30);
        uint256 deadline = block.timestamp + 1 hours;
        string memory json = string.concat(
            '{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},',
            '{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],',
            '"Grant":[{"name":"patient","type":"address"},{"name":"grantee","type":"address"},',
            '{"name":"scopes","type":"uint8"},{"name":"expiresAt","type":"uint40"},',
            '{"name":"signedAt","type":"uint40"},',
            '{"name":"nonce","type":"uint256"},{"name":"deadline","type":"uint256"}]},',
            '"primaryType":"Grant","domain":{"name":"medledger ConsentRegistry","version":"1","chainId":',
            vm.toString(block.chainid),
            ',"verifyingContract":"',
            vm.toString(address(consent)),
            '"},"message":{"patient":"',
            vm.toString(patient),
            '","grantee":"',
            vm.toString(nurse),
            string.concat(
                '","scopes":3,"expiresAt":',
                vm.toString(uint256(expiresAt)),
                ',"signedAt":',
                vm.toString(block.timestamp),
                ',"nonce":0,"deadline":',
                vm.toString(deadline),
                "}}"
            )
        );
        vm.assertEq(
            vm.eip712HashTypedData(json), _grantDigest(consent, patient, nurse, 3, expiresAt, 0, deadline)
        );
        vm.assertEq(
            consent.GRANT_TYPEHASH(),
            vm.eip712HashType(
                "Grant(address patient,address grantee,uint8 scopes,uint40 expiresAt,uint40 signedAt,uint256 nonce,"
                "uint256 deadline)"
            )
        );
        vm.assertEq(
            consent.REVOKE_TYPEHASH(),
            vm.eip712HashType(
                "Revoke(address patient,address grantee,uint40 signedAt,uint256 nonce,uint256 deadline)"
            )
        );
    }

    function testFuzz_RevertWhen_GrantWithSigWrongSigner(uint256 key) public {
        key = bound(key, 1, SECP256K1_N - 2);
        if (key == patientKey) key++;
        bytes memory sig = _signedGrant(key, patient, nurse, _inDays(30), block.timestamp + 1);
        _expectInvalidSignature(patient);
        consent.grantWithSig(
            patient, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), block.timestamp + 1, sig
        );
    }

    function test_RevertWhen_GrantWithSigReplayed() public {
        bytes memory sig = _signedGrant(patientKey, patient, nurse, _inDays(30), block.timestamp + 1);
        consent.grantWithSig(
            patient, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), block.timestamp + 1, sig
        );
        _expectInvalidSignature(patient);
        consent.grantWithSig(
            patient, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), block.timestamp + 1, sig
        );
    }

    function test_RevertWhen_GrantWithSigTermsAltered() public {
        bytes memory sig = _signedGrant(patientKey, patient, nurse, _inDays(30), block.timestamp + 1);
        _expectInvalidSignature(patient);
        consent.grantWithSig(
            patient, nurse, ALL_SCOPES, _inDays(30), uint40(block.timestamp), block.timestamp + 1, sig
        );
    }

    function testFuzz_RevertWhen_GrantWithSigExpired(uint256 deadline, uint256 elapsed) public {
        deadline = bound(deadline, block.timestamp, block.timestamp + 365 days);
        elapsed = bound(elapsed, deadline - block.timestamp, deadline - block.timestamp + 365 days);
        uint40 expiresAt = uint40(block.timestamp + 800 days);
        bytes memory sig = _signedGrant(patientKey, patient, nurse, expiresAt, deadline);
        vm.warp(block.timestamp + elapsed);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__SignatureExpired.selector, deadline, block.timestamp
            )
        );
        consent.grantWithSig(patient, nurse, READ | WRITE, expiresAt, uint40(block.timestamp), deadline, sig);
    }

    function testFuzz_RevertWhen_GrantWithSigWrongChainId(uint256 chainId) public {
        chainId = bound(chainId, 1, type(uint64).max - 1);
        if (chainId == block.chainid) chainId++;
        bytes memory sig = _signedGrant(patientKey, patient, nurse, _inDays(30), block.timestamp + 1);
        vm.chainId(chainId);
        _expectInvalidSignature(patient);
        consent.grantWithSig(
            patient, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), block.timestamp + 1, sig
        );
    }

    function test_RevertWhen_GrantWithSigForAnotherDeployment() public {
        ConsentRegistry other = new ConsentRegistry(credentials);
        bytes32 digest =
            _grantDigest(other, patient, nurse, READ | WRITE, _inDays(30), 0, block.timestamp + 1);
        bytes memory sig = signDigest(patientKey, digest);
        other.grantWithSig(
            patient, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), block.timestamp + 1, sig
        ); // valid there
        _expectInvalidSignature(patient);
        consent.grantWithSig(
            patient, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), block.timestamp + 1, sig
        );
    }

    function test_RevertWhen_GrantWithSigMalleableHighS() public {
        bytes32 digest =
            _grantDigest(consent, patient, nurse, READ | WRITE, _inDays(30), 0, block.timestamp + 1);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(patientKey, digest);
        bytes memory flipped =
            abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        _expectInvalidSignature(patient);
        consent.grantWithSig(
            patient, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), block.timestamp + 1, flipped
        );
    }

    function test_GrantWithSig_ERC1271WalletPatient() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(patient);
        bytes memory sig = _signedGrant(patientKey, address(wallet), nurse, _inDays(30), block.timestamp + 1);
        vm.expectEmit(address(consent));
        emit IConsentRegistry.ConsentGranted(address(wallet), nurse, READ | WRITE, _inDays(30), true);
        consent.grantWithSig(
            address(wallet),
            nurse,
            READ | WRITE,
            _inDays(30),
            uint40(block.timestamp),
            block.timestamp + 1,
            sig
        );
        vm.assertTrue(consent.hasScope(address(wallet), nurse, WRITE));
    }

    function test_RevertWhen_GrantWithSigERC1271WrongOwner() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(patient);
        bytes memory sig =
            _signedGrant(prescriberKey, address(wallet), nurse, _inDays(30), block.timestamp + 1);
        _expectInvalidSignature(address(wallet));
        consent.grantWithSig(
            address(wallet),
            nurse,
            READ | WRITE,
            _inDays(30),
            uint40(block.timestamp),
            block.timestamp + 1,
            sig
        );
    }

    function test_RevertWhen_GrantWithSigERC1271BadMagic() public {
        address wallet = address(new BadMagicERC1271Wallet());
        bytes memory sig = _signedGrant(patientKey, wallet, nurse, _inDays(30), block.timestamp + 1);
        _expectInvalidSignature(wallet);
        consent.grantWithSig(
            wallet, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), block.timestamp + 1, sig
        );
    }

    function test_RevertWhen_GrantWithSigERC1271Reverts() public {
        address wallet = address(new RevertingERC1271Wallet());
        bytes memory sig = _signedGrant(patientKey, wallet, nurse, _inDays(30), block.timestamp + 1);
        _expectInvalidSignature(wallet);
        consent.grantWithSig(
            wallet, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), block.timestamp + 1, sig
        );
    }

    function test_RevokeWithSig_RelayedByAnyone() public {
        bytes memory sig = signDigest(patientKey, _revokeDigest(patient, prescriber, 0, block.timestamp + 1));
        vm.expectEmit(address(consent));
        emit IConsentRegistry.ConsentRevoked(patient, prescriber, true);
        vm.prank(relayer);
        consent.revokeWithSig(patient, prescriber, uint40(block.timestamp), block.timestamp + 1, sig);
        vm.assertFalse(consent.hasScope(patient, prescriber, PRESCRIBE));
        vm.assertEq(consent.nonces(patient), 1);
    }

    function test_RevertWhen_RevokeWithSigReplayed() public {
        bytes memory sig = signDigest(patientKey, _revokeDigest(patient, prescriber, 0, block.timestamp + 1));
        consent.revokeWithSig(patient, prescriber, uint40(block.timestamp), block.timestamp + 1, sig);
        vm.prank(patient);
        consent.grant(prescriber, PRESCRIBE, _inDays(1));
        // The direct grant supersedes the older signature before its spent nonce is even looked at.
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__SignatureSuperseded.selector,
                patient,
                prescriber,
                block.timestamp,
                block.timestamp
            )
        );
        consent.revokeWithSig(patient, prescriber, uint40(block.timestamp), block.timestamp + 1, sig);
    }

    function test_RevertWhen_RevokeWithSigExpired() public {
        uint256 deadline = block.timestamp + 1;
        bytes memory sig = signDigest(patientKey, _revokeDigest(patient, prescriber, 0, deadline));
        vm.warp(deadline);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__SignatureExpired.selector, deadline, deadline
            )
        );
        consent.revokeWithSig(patient, prescriber, uint40(block.timestamp), deadline, sig);
    }

    function test_RevertWhen_RevokeWithSigWrongSigner() public {
        bytes memory sig =
            signDigest(prescriberKey, _revokeDigest(patient, prescriber, 0, block.timestamp + 1));
        _expectInvalidSignature(patient);
        consent.revokeWithSig(patient, prescriber, uint40(block.timestamp), block.timestamp + 1, sig);
    }

    function test_RevertWhen_RevokeWithSigWithoutConsent() public {
        bytes memory sig = signDigest(patientKey, _revokeDigest(patient, nurse, 0, block.timestamp + 1));
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistry__NoConsent.selector, patient, nurse)
        );
        consent.revokeWithSig(patient, nurse, uint40(block.timestamp), block.timestamp + 1, sig);
    }

    // ---------------------------------------------------------------- nonce invalidation

    function test_InvalidateNonces_BurnsUnrelayedSignatures() public {
        uint256 deadline = block.timestamp + 7 days;
        // Two grants signed ahead of time over nonces 0 and 1; neither relayed yet.
        bytes memory sig0 = _signedGrant(patientKey, patient, nurse, _inDays(30), deadline);
        bytes memory sig1 = signDigest(
            patientKey, _grantDigest(consent, patient, nurse, READ | WRITE, _inDays(30), 1, deadline)
        );

        vm.expectEmit(address(consent));
        emit IConsentRegistry.NoncesInvalidated(patient, 0, 2);
        vm.prank(patient);
        consent.invalidateNonces(2);
        vm.assertEq(consent.nonces(patient), 2);

        _expectInvalidSignature(patient);
        consent.grantWithSig(
            patient, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), deadline, sig0
        );
        _expectInvalidSignature(patient);
        consent.grantWithSig(
            patient, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), deadline, sig1
        );
        vm.assertFalse(consent.hasScope(patient, nurse, READ));

        // A signature over the new nonce works.
        bytes memory sig2 = _signedGrant(patientKey, patient, nurse, _inDays(30), deadline);
        consent.grantWithSig(
            patient, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), deadline, sig2
        );
        vm.assertTrue(consent.hasScope(patient, nurse, READ | WRITE));
        vm.assertEq(consent.nonces(patient), 3);
    }

    function test_InvalidateNonces_OnlyTheCallersNonce() public {
        vm.prank(stranger);
        consent.invalidateNonces(5);
        vm.assertEq(consent.nonces(stranger), 5);
        vm.assertEq(consent.nonces(patient), 0);
        bytes memory sig = _signedGrant(patientKey, patient, nurse, _inDays(30), block.timestamp + 1);
        consent.grantWithSig(
            patient, nurse, READ | WRITE, _inDays(30), uint40(block.timestamp), block.timestamp + 1, sig
        );
    }

    function test_RevertWhen_InvalidateNoncesNotForward() public {
        vm.startPrank(patient);
        consent.invalidateNonces(3);
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistry__InvalidNonce.selector, patient, 3, 3)
        );
        consent.invalidateNonces(3);
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistry__InvalidNonce.selector, patient, 3, 2)
        );
        consent.invalidateNonces(2);
        vm.stopPrank();
    }

    function testFuzz_InvalidateNonces_JumpIsBounded(uint256 newNonce) public {
        uint256 maxJump = consent.MAX_NONCE_JUMP();
        vm.prank(patient);
        if (newNonce == 0 || newNonce > maxJump) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IConsentRegistry.ConsentRegistry__InvalidNonce.selector, patient, 0, newNonce
                )
            );
            consent.invalidateNonces(newNonce);
        } else {
            consent.invalidateNonces(newNonce);
            vm.assertEq(consent.nonces(patient), newNonce);
        }
    }

    // ---------------------------------------------------------------- emergency access

    function test_OpenEmergencyAccess_GrantsReadOnly() public {
        uint40 expiresAt = uint40(block.timestamp + 4 hours);
        vm.expectEmit(address(consent));
        emit IConsentRegistry.EmergencyAccessOpened(stranger, prescriber2, 911, JUSTIFICATION, expiresAt);
        vm.prank(prescriber2);
        consent.openEmergencyAccess(stranger, 911, JUSTIFICATION, 4 hours);

        vm.assertTrue(consent.hasScope(stranger, prescriber2, READ));
        vm.assertFalse(consent.hasScope(stranger, prescriber2, WRITE));
        vm.assertFalse(consent.hasScope(stranger, prescriber2, PRESCRIBE));
        vm.assertFalse(consent.hasScope(stranger, prescriber2, READ | WRITE));
        vm.assertEq(consent.grantOf(stranger, prescriber2).emergencyUntil, expiresAt);

        vm.warp(expiresAt);
        vm.assertFalse(consent.hasScope(stranger, prescriber2, READ));
    }

    function test_OpenEmergencyAccess_SurvivesConsentRevocation() public {
        vm.prank(prescriber);
        consent.openEmergencyAccess(patient, 1, JUSTIFICATION, 1 hours);
        vm.prank(patient);
        consent.revoke(prescriber);
        vm.assertTrue(consent.hasScope(patient, prescriber, READ));
        vm.assertFalse(consent.hasScope(patient, prescriber, PRESCRIBE));
        vm.assertEq(consent.grantOf(patient, prescriber).emergencyUntil, block.timestamp + 1 hours);
    }

    function test_Grant_KeepsOpenEmergencyAccess() public {
        vm.prank(prescriber2);
        consent.openEmergencyAccess(patient, 1, JUSTIFICATION, 1 hours);
        vm.prank(patient);
        consent.grant(prescriber2, WRITE, _inDays(1));
        vm.assertEq(consent.grantOf(patient, prescriber2).emergencyUntil, block.timestamp + 1 hours);
        vm.assertTrue(consent.hasScope(patient, prescriber2, READ));
    }

    function testFuzz_OpenEmergencyAccess_Duration(uint32 duration) public {
        if (duration == 0 || duration > 24 hours) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IConsentRegistry.ConsentRegistry__InvalidEmergencyDuration.selector, duration, 24 hours
                )
            );
            vm.prank(prescriber2);
            consent.openEmergencyAccess(patient, 1, JUSTIFICATION, duration);
        } else {
            vm.prank(prescriber2);
            consent.openEmergencyAccess(patient, 1, JUSTIFICATION, duration);
            vm.warp(block.timestamp + duration - 1);
            vm.assertTrue(consent.hasScope(patient, prescriber2, READ));
            vm.warp(block.timestamp + 1);
            vm.assertFalse(consent.hasScope(patient, prescriber2, READ));
        }
    }

    function test_RevertWhen_OpenEmergencyAccessNotPrescriber() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector,
                pharmacy,
                ICredentialRegistry.Kind.Prescriber
            )
        );
        vm.prank(pharmacy);
        consent.openEmergencyAccess(patient, 1, JUSTIFICATION, 1 hours);
    }

    function test_RevertWhen_OpenEmergencyAccessSuspendedPrescriber() public {
        vm.prank(registrar);
        credentials.suspend(prescriber2, 3);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector,
                prescriber2,
                ICredentialRegistry.Kind.Prescriber
            )
        );
        vm.prank(prescriber2);
        consent.openEmergencyAccess(patient, 1, JUSTIFICATION, 1 hours);
    }

    function test_RevertWhen_OpenEmergencyAccessForSelf() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__InvalidGrantee.selector, prescriber, prescriber
            )
        );
        vm.prank(prescriber);
        consent.openEmergencyAccess(prescriber, 1, JUSTIFICATION, 1 hours);
    }

    function test_EndEmergencyAccess_ByPatient() public {
        vm.prank(prescriber2);
        consent.openEmergencyAccess(patient, 1, JUSTIFICATION, 1 hours);
        vm.expectEmit(address(consent));
        emit IConsentRegistry.EmergencyAccessEnded(patient, prescriber2, patient);
        vm.prank(patient);
        consent.endEmergencyAccess(patient, prescriber2);
        vm.assertFalse(consent.hasScope(patient, prescriber2, READ));
        vm.assertEq(consent.grantOf(patient, prescriber2).emergencyUntil, block.timestamp); // the cooldown starts
    }

    function test_EndEmergencyAccess_ByGrantee() public {
        vm.prank(prescriber2);
        consent.openEmergencyAccess(patient, 1, JUSTIFICATION, 1 hours);
        vm.expectEmit(address(consent));
        emit IConsentRegistry.EmergencyAccessEnded(patient, prescriber2, prescriber2);
        vm.prank(prescriber2);
        consent.endEmergencyAccess(patient, prescriber2);
        vm.assertFalse(consent.hasScope(patient, prescriber2, READ));
    }

    function test_RevertWhen_EndEmergencyAccessByStranger() public {
        vm.prank(prescriber2);
        consent.openEmergencyAccess(patient, 1, JUSTIFICATION, 1 hours);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__NotPatientOrGrantee.selector, stranger, patient, prescriber2
            )
        );
        vm.prank(stranger);
        consent.endEmergencyAccess(patient, prescriber2);
    }

    function test_RevertWhen_EndEmergencyAccessNoneOpen() public {
        vm.prank(prescriber2);
        consent.openEmergencyAccess(patient, 1, JUSTIFICATION, 1 hours);
        vm.warp(block.timestamp + 1 hours);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__NoEmergencyAccess.selector, patient, prescriber2
            )
        );
        vm.prank(patient);
        consent.endEmergencyAccess(patient, prescriber2);
    }
}
