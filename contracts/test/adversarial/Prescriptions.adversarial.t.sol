// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Prescriptions} from "../../src/Prescriptions.sol";
import {IConsentRegistry} from "../../src/interfaces/IConsentRegistry.sol";
import {ICredentialRegistry} from "../../src/interfaces/ICredentialRegistry.sol";
import {IPrescriptions} from "../../src/interfaces/IPrescriptions.sol";
import {
    GasBurningERC1271Wallet,
    HostileRegistry,
    ReentrantERC1271Wallet
} from "../mocks/HostileContracts.sol";
import {Fixture} from "../utils/Fixture.sol";

/// @notice Attacks on prescriptions: front-running a revocation or a suspension within the same block, dust
///         prescriptions to grief a patient, signature malleability and replay of a prescriber's signature,
///         malicious ERC-1271 prescribers, and re-entrancy through every external call.
contract PrescriptionsAdversarialTest is Fixture {
    uint256 internal constant SECP256K1_N =
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function _consentMissing(address patient_, address prescriber_) internal pure returns (bytes memory) {
        return
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__ConsentMissing.selector, patient_, prescriber_
            );
    }

    function _dispensed(bytes32 rxId) internal view returns (uint256 dispensed) {
        (, dispensed,) = rx.prescriptionOf(rxId);
    }

    // ---------------------------------------------------------------- front-running within one block

    /// @dev The prescriber sees the patient's revocation in the mempool and gets an issue ordered before it in
    ///      the same block. Consent was in force when the issue ran, so that prescription stands (chain order is
    ///      the only order there is); every issue ordered after the revocation, same block included, fails.
    function test_FrontRun_IssueBeforeRevocationInSameBlock() public {
        uint256 height = block.number;
        IPrescriptions.RxTerms memory first = _terms();
        bytes32 rxId = _issue(first); // front-runner
        vm.prank(patient);
        consent.revoke(prescriber); // the patient's transaction, same block
        vm.assertEq(block.number, height);

        IPrescriptions.RxTerms memory second = _terms();
        second.nonce = 2;
        vm.expectRevert(_consentMissing(patient, prescriber));
        vm.prank(prescriber);
        rx.issue(second);

        // What the patient can rely on: the front-run prescription is on chain for everyone to see, and the
        // issuing prescriber (or the registrar, by suspending) is accountable for it.
        vm.assertEq(_rxState(rxId).prescriberId, credentials.idOf(prescriber));
    }

    /// @dev Revocation first in the block: the issue behind it fails, relayed or not.
    function test_FrontRun_RevocationFirstBlocksIssueInSameBlock() public {
        vm.prank(patient);
        consent.revoke(prescriber);
        IPrescriptions.RxTerms memory t = _terms();
        vm.expectRevert(_consentMissing(patient, prescriber));
        vm.prank(prescriber);
        rx.issue(t);
        bytes32 rxId = rx.hashPrescription(t);
        vm.expectRevert(_consentMissing(patient, prescriber));
        vm.prank(relayer);
        rx.issueWithSig(t, signDigest(prescriberKey, rxId));
    }

    /// @dev The registrar's suspension and the prescriber's issue in the same block: whichever is first wins;
    ///      after the suspension nothing issues, and a suspended pharmacy cannot dispense.
    function test_FrontRun_SuspensionInSameBlock() public {
        bytes32 rxId = _issue(_terms());
        vm.startPrank(registrar);
        credentials.suspend(prescriber, 1);
        credentials.suspend(pharmacy, 1);
        vm.stopPrank();
        IPrescriptions.RxTerms memory t = _terms();
        t.nonce = 2;
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector,
                prescriber,
                ICredentialRegistry.Kind.Prescriber
            )
        );
        vm.prank(prescriber);
        rx.issue(t);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector,
                pharmacy,
                ICredentialRegistry.Kind.Pharmacy
            )
        );
        vm.prank(pharmacy);
        rx.dispense(rxId, 1, 0, false, bytes32(0));
    }

    /// @dev A prescription signed while consent held, relayed after the revocation, fails: consent is checked
    ///      when the prescription is issued, not when it was signed.
    function test_RevertWhen_SignedPrescriptionRelayedAfterRevocation() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes memory sig = signDigest(prescriberKey, rx.hashPrescription(t));
        vm.prank(patient);
        consent.revoke(prescriber);
        vm.expectRevert(_consentMissing(patient, prescriber));
        rx.issueWithSig(t, sig);
    }

    // ---------------------------------------------------------------- dust prescriptions

    /// @dev A prescriber without the patient's PRESCRIBE consent cannot send even one unit of anything, signed
    ///      and relayed or not: the patient's list only holds prescriptions of prescribers they consented to.
    function testFuzz_Dust_RequiresConsent(uint32 quantity, uint8 fills) public {
        IPrescriptions.RxTerms memory t = _terms();
        t.prescriber = prescriber2;
        t.quantityPerFill = uint32(bound(quantity, 1, type(uint32).max));
        t.fills = uint8(bound(fills, 1, type(uint8).max));
        vm.expectRevert(_consentMissing(patient, prescriber2));
        vm.prank(prescriber2);
        rx.issue(t);
    }

    /// @dev A consented prescriber spamming 1-unit prescriptions costs the patient nothing: no operation of the
    ///      patient's iterates over their prescriptions, so its gas does not grow with the spam, and one
    ///      revocation ends the stream.
    function test_Dust_SpamDoesNotRaisePatientCostsAndRevocationEndsIt() public {
        vm.prank(patient);
        consent.grant(prescriber2, PRESCRIBE, _inDays(30));
        IPrescriptions.RxTerms memory mine = _terms();
        bytes32 before = _issue(mine);
        credentials.activePharmacyId(pharmacy2); // warm the slots both measurements read
        uint256 gasBefore = _changePharmacyGas(mine);

        IPrescriptions.RxTerms memory dust = _terms();
        dust.prescriber = prescriber2;
        dust.quantityPerFill = 1;
        dust.fills = 1;
        for (uint256 i = 1; i <= 200; ++i) {
            dust.nonce = i;
            _issue(dust);
        }
        IPrescriptions.RxTerms memory mine2 = _terms();
        mine2.nonce = 2;
        _issue(mine2);
        vm.assertEq(_changePharmacyGas(mine2), gasBefore, "patient's cost grew with the spam");

        vm.prank(patient);
        consent.revoke(prescriber2);
        dust.nonce = 201;
        vm.expectRevert(_consentMissing(patient, prescriber2));
        vm.prank(prescriber2);
        rx.issue(dust);
        vm.assertEq(_dispensed(before), 0);
    }

    function _changePharmacyGas(IPrescriptions.RxTerms memory t) internal returns (uint256 used) {
        vm.prank(patient);
        uint256 start = gasleft();
        rx.changePharmacy(t, pharmacy2);
        used = start - gasleft();
    }

    /// @dev Emergency access needs no consent (break-glass), so any active prescriber can open it repeatedly.
    ///      It gives READ only, never PRESCRIBE or WRITE; the patient ends it; a suspended prescriber cannot
    ///      open it again.
    function test_Dust_EmergencyAccessSpamIsReadOnlyAndStoppable() public {
        vm.startPrank(prescriber2);
        consent.openEmergencyAccess(patient, 1, JUSTIFICATION, 1 hours);
        for (uint16 i = 2; i < 20; ++i) {
            // Re-opening never extends (issue 19, point 2).
            vm.expectRevert(
                abi.encodeWithSelector(
                    IConsentRegistry.ConsentRegistry__EmergencyAccessAlreadyOpen.selector,
                    patient,
                    prescriber2,
                    block.timestamp + 1 hours
                )
            );
            consent.openEmergencyAccess(patient, i, JUSTIFICATION, 1 hours);
        }
        vm.stopPrank();
        vm.assertTrue(consent.hasScope(patient, prescriber2, READ));
        vm.assertFalse(consent.hasScope(patient, prescriber2, WRITE));
        IPrescriptions.RxTerms memory t = _terms();
        t.prescriber = prescriber2;
        vm.expectRevert(_consentMissing(patient, prescriber2));
        vm.prank(prescriber2);
        rx.issue(t);

        vm.prank(patient);
        consent.endEmergencyAccess(patient, prescriber2);
        vm.assertFalse(consent.hasScope(patient, prescriber2, READ));
        vm.warp(block.timestamp + consent.EMERGENCY_COOLDOWN()); // past the pair's cooldown
        vm.prank(registrar);
        credentials.suspend(prescriber2, 1);
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

    // ---------------------------------------------------------------- prescriber signatures

    /// @dev The high-s twin of a prescriber's signature is rejected; and since rxId is the typed-data digest (not
    ///      a hash of the signature), no encoding of a signature can mint a second prescription.
    function test_RevertWhen_IssueWithSigHighS() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = rx.hashPrescription(t);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(prescriberKey, rxId);
        bytes memory twin =
            abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__InvalidSignature.selector, rxId, prescriber)
        );
        rx.issueWithSig(t, twin);

        rx.issueWithSig(t, abi.encodePacked(r, s, v));
        vm.expectRevert(abi.encodeWithSelector(IPrescriptions.Prescriptions__AlreadyIssued.selector, rxId));
        rx.issueWithSig(t, abi.encodePacked(r, s, v));
    }

    /// @dev A prescription signed for one chain does not issue on a fork with another chain id, nor on another
    ///      deployment on the same chain.
    function testFuzz_RevertWhen_IssueWithSigReplayedOnForkOrOtherDeployment(uint64 forkChainId) public {
        vm.assume(forkChainId != block.chainid);
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = rx.hashPrescription(t);
        bytes memory sig = signDigest(prescriberKey, rxId);

        Prescriptions other = new Prescriptions(credentials, consent);
        bytes32 otherId = other.hashPrescription(t);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__InvalidSignature.selector, otherId, prescriber
            )
        );
        other.issueWithSig(t, sig);

        uint256 original = block.chainid;
        vm.chainId(forkChainId);
        bytes32 forkId = rx.hashPrescription(t);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__InvalidSignature.selector, forkId, prescriber
            )
        );
        rx.issueWithSig(t, sig);
        vm.chainId(original);
        vm.assertEq(rx.issueWithSig(t, sig), rxId);
    }

    /// @dev A prescriber wallet re-entering `issue` from `isValidSignature` gets nowhere (STATICCALL); a wallet
    ///      burning its gas makes the relayed issue fail cleanly.
    function test_MaliciousPrescriberWallets() public {
        ReentrantERC1271Wallet wallet = new ReentrantERC1271Wallet();
        GasBurningERC1271Wallet burner = new GasBurningERC1271Wallet();
        vm.startPrank(registrar);
        credentials.register(
            address(wallet), ICredentialRegistry.Kind.Prescriber, keccak256("w"), US_CA, _inDays(30), 0
        );
        credentials.register(
            address(burner), ICredentialRegistry.Kind.Prescriber, keccak256("b"), US_CA, _inDays(30), 0
        );
        vm.stopPrank();
        vm.startPrank(patient);
        consent.grant(address(wallet), PRESCRIBE, _inDays(30));
        consent.grant(address(burner), PRESCRIBE, _inDays(30));
        vm.stopPrank();

        IPrescriptions.RxTerms memory t = _terms();
        t.prescriber = address(wallet);
        IPrescriptions.RxTerms memory inner = _terms();
        inner.prescriber = address(wallet);
        inner.nonce = 99;
        wallet.arm(address(rx), abi.encodeCall(rx.issue, (inner)));
        bytes32 rxId = rx.issueWithSig(t, hex"00");
        vm.assertEq(_rxState(rxId).fills, t.fills);
        vm.assertEq(_rxState(rx.hashPrescription(inner)).fills, 0, "re-entered issue landed");
        wallet.fire();
        vm.assertEq(_rxState(rx.hashPrescription(inner)).fills, inner.fills);

        t.prescriber = address(burner);
        bytes32 burnerId = rx.hashPrescription(t);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__InvalidSignature.selector, burnerId, address(burner)
            )
        );
        rx.issueWithSig{gas: 2_000_000}(t, hex"00");
    }

    // ---------------------------------------------------------------- re-entrancy through the registries

    /// @dev Every call Prescriptions makes out goes to the credential and consent registries through view
    ///      interfaces, i.e. STATICCALL: registries that try to re-enter `dispense` (a second dispense) or
    ///      `issue` (another prescription) from inside each query change nothing. (`cancel` queries `idOf` the
    ///      same way.)
    function test_HostileRegistries_CannotReenter() public {
        HostileRegistry hostile = new HostileRegistry();
        Prescriptions victim =
            new Prescriptions(ICredentialRegistry(address(hostile)), IConsentRegistry(address(hostile)));
        IPrescriptions.RxTerms memory t = _terms();
        IPrescriptions.RxTerms memory inner = _terms();
        inner.nonce = 7;
        inner.prescriber = address(hostile);
        hostile.arm(address(victim), abi.encodeCall(victim.issue, (inner)));
        vm.prank(prescriber);
        bytes32 rxId = victim.issue(t);
        (IPrescriptions.Rx memory innerRx,,) = victim.prescriptionOf(victim.hashPrescription(inner));
        vm.assertEq(innerRx.fills, 0, "re-entered issue landed");

        hostile.arm(address(victim), abi.encodeCall(victim.dispense, (rxId, 5, 0, false, bytes32(0))));
        vm.prank(pharmacy);
        victim.dispense(rxId, 10, 0, false, bytes32(0)); // queries dispenseAuthority, which re-enters
        (, uint256 dispensed,) = victim.prescriptionOf(rxId);
        vm.assertEq(dispensed, 10, "re-entered dispense landed");

        // The armed payloads are valid calls outside a static context.
        hostile.arm(address(victim), abi.encodeCall(victim.issue, (inner)));
        hostile.fire();
        (innerRx,,) = victim.prescriptionOf(victim.hashPrescription(inner));
        vm.assertEq(innerRx.fills, inner.fills);
    }

    function _rxState(bytes32 rxId) internal view returns (IPrescriptions.Rx memory state) {
        (state,,) = rx.prescriptionOf(rxId);
    }
}
