// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Prescriptions} from "../src/Prescriptions.sol";
import {ICredentialRegistry} from "../src/interfaces/ICredentialRegistry.sol";
import {IPrescriptions} from "../src/interfaces/IPrescriptions.sol";
import {BadMagicERC1271Wallet, MockERC1271Wallet, RevertingERC1271Wallet} from "./mocks/ERC1271Wallets.sol";
import {Fixture} from "./utils/Fixture.sol";
import {Vm} from "./utils/Vm.sol";

contract PrescriptionsTest is Fixture {
    using PrescriptionsJson for IPrescriptions.RxTerms;

    ICredentialRegistry.Kind internal constant PRESCRIBER_KIND = ICredentialRegistry.Kind.Prescriber;
    ICredentialRegistry.Kind internal constant PHARMACY_KIND = ICredentialRegistry.Kind.Pharmacy;

    function _rxState(bytes32 rxId) internal view returns (IPrescriptions.Rx memory state) {
        (state,,) = rx.prescriptionOf(rxId);
    }

    function _totals(bytes32 rxId) internal view returns (uint256 dispensed, uint256 authorized) {
        (, dispensed, authorized) = rx.prescriptionOf(rxId);
    }

    function _expectIssueRevert(IPrescriptions.RxTerms memory terms, bytes memory err) internal {
        vm.expectRevert(err);
        vm.prank(terms.prescriber);
        rx.issue(terms);
    }

    function _expectDispenseRevert(address by, bytes32 rxId, uint32 quantity, bytes memory err) internal {
        uint256 before = _dispensedOf(rxId);
        vm.expectRevert(err);
        vm.prank(by);
        rx.dispense(rxId, quantity, before, false, bytes32(0));
    }

    function _schedule2() internal view returns (IPrescriptions.RxTerms memory t) {
        t = _terms();
        t.schedule = 2;
        t.fills = 1;
        t.quantityPerFill = 60;
        t.validUntil = uint32(block.timestamp + 30 days);
        t.minFillInterval = 0;
        t.pharmacy = pharmacy;
    }

    /// @dev Terms of a controlled substance of `schedule` (III–V): 30 days' supply, the designated pharmacy.
    function _controlled(uint8 schedule) internal view returns (IPrescriptions.RxTerms memory t) {
        t = _terms();
        t.schedule = schedule;
        t.pharmacy = pharmacy;
    }

    // ================================================================ issue

    function test_Issue_StoresOneSlotAndEmits() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 expectedId = rx.hashPrescription(t);
        vm.expectEmit(address(rx));
        emit IPrescriptions.PrescriptionIssued(expectedId, patient, prescriber, t, prescriber);
        bytes32 rxId = _issue(t);
        vm.assertEq(rxId, expectedId);

        IPrescriptions.Rx memory s = _rxState(rxId);
        vm.assertEq(s.prescriberId, 1);
        vm.assertEq(s.pharmacyId, 0);
        vm.assertEq(s.fills, 3);
        vm.assertEq(s.fillsUsed, 0);
        vm.assertEq(s.schedule, 0);
        vm.assertEq(s.flags, 0);
        vm.assertEq(s.quantityPerFill, 30);
        vm.assertEq(s.openFillDispensed, 0);
        vm.assertEq(s.nextFillAt, t.earliestFillAt);
        vm.assertEq(s.validUntil, t.validUntil);
        vm.assertEq(s.minFillInterval, 25 days);
        (uint256 dispensed, uint256 authorized) = _totals(rxId);
        vm.assertEq(dispensed, 0);
        vm.assertEq(authorized, 90);
    }

    function test_Issue_WithDesignatedPharmacy() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.pharmacy = pharmacy2;
        bytes32 rxId = _issue(t);
        vm.assertEq(_rxState(rxId).pharmacyId, 4);
    }

    function test_Issue_NonceMakesIdenticalTermsDistinct() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 first = _issue(t);
        t.nonce = 2;
        bytes32 second = _issue(t);
        vm.assertNotEq(first, second);
    }

    function test_Issue_ScheduleIIWithinThirtyDays() public {
        bytes32 rxId = _issue(_schedule2());
        vm.assertEq(_rxState(rxId).schedule, 2);
    }

    function test_RevertWhen_IssueCallerNotPrescriber() public {
        IPrescriptions.RxTerms memory t = _terms();
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__CallerNotPrescriber.selector, relayer, prescriber
            )
        );
        vm.prank(relayer);
        rx.issue(t);
    }

    function test_RevertWhen_IssueAlreadyIssued() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = _issue(t);
        _expectIssueRevert(
            t, abi.encodeWithSelector(IPrescriptions.Prescriptions__AlreadyIssued.selector, rxId)
        );
    }

    function test_RevertWhen_IssueZeroPatient() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.patient = address(0);
        _expectIssueRevert(t, abi.encodeWithSelector(IPrescriptions.Prescriptions__ZeroPatient.selector));
    }

    function test_RevertWhen_IssueZeroFills() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.fills = 0;
        _expectIssueRevert(
            t, abi.encodeWithSelector(IPrescriptions.Prescriptions__InvalidFills.selector, 0, 0, 255)
        );
    }

    function test_RevertWhen_IssueScheduleIIWithRefills() public {
        IPrescriptions.RxTerms memory t = _schedule2();
        t.fills = 2;
        _expectIssueRevert(
            t, abi.encodeWithSelector(IPrescriptions.Prescriptions__InvalidFills.selector, 2, 2, 1)
        );
    }

    function test_RevertWhen_IssueScheduleIIIMoreThanFiveRefills() public {
        IPrescriptions.RxTerms memory t = _controlled(3);
        t.fills = 7;
        _expectIssueRevert(
            t, abi.encodeWithSelector(IPrescriptions.Prescriptions__InvalidFills.selector, 3, 7, 6)
        );
    }

    function test_RevertWhen_IssueZeroQuantityPerFill() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.quantityPerFill = 0;
        _expectIssueRevert(
            t, abi.encodeWithSelector(IPrescriptions.Prescriptions__ZeroQuantityPerFill.selector)
        );
    }

    function test_RevertWhen_IssueEarliestFillNotBeforeValidUntil() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.earliestFillAt = t.validUntil;
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__InvalidFillWindow.selector, t.validUntil, t.validUntil
            )
        );
    }

    function test_RevertWhen_IssueValidUntilPassed() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.earliestFillAt = uint32(block.timestamp - 10);
        t.validUntil = uint32(block.timestamp);
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__ValidUntilPassed.selector, t.validUntil, block.timestamp
            )
        );
    }

    function test_RevertWhen_IssueScheduleOne() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.schedule = 1;
        _expectIssueRevert(
            t, abi.encodeWithSelector(IPrescriptions.Prescriptions__InvalidSchedule.selector, 1)
        );
    }

    function test_RevertWhen_IssueScheduleSix() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.schedule = 6;
        _expectIssueRevert(
            t, abi.encodeWithSelector(IPrescriptions.Prescriptions__InvalidSchedule.selector, 6)
        );
    }

    function test_RevertWhen_IssueScheduleIIValidityOverThirtyDays() public {
        IPrescriptions.RxTerms memory t = _schedule2();
        t.validUntil = uint32(block.timestamp + 30 days + 1);
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__ValidityTooLong.selector,
                2,
                t.validUntil,
                block.timestamp + 30 days
            )
        );
    }

    function test_RevertWhen_IssueScheduleIVValidityOver180Days() public {
        IPrescriptions.RxTerms memory t = _controlled(4);
        t.validUntil = uint32(block.timestamp + 181 days);
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__ValidityTooLong.selector,
                4,
                t.validUntil,
                block.timestamp + 180 days
            )
        );
    }

    function test_RevertWhen_IssueScheduleNotAuthorized() public {
        vm.prank(patient);
        consent.grant(prescriber2, PRESCRIBE, _inDays(30));
        IPrescriptions.RxTerms memory t = _controlled(5);
        t.prescriber = prescriber2;
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__ScheduleNotAuthorized.selector, prescriber2, 5, 0
            )
        );
    }

    function test_RevertWhen_IssuePrescriberSuspended() public {
        vm.prank(registrar);
        credentials.suspend(prescriber, 1);
        _expectIssueRevert(
            _terms(),
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector, prescriber, PRESCRIBER_KIND
            )
        );
    }

    function test_RevertWhen_IssuePrescriberLicenseExpired() public {
        vm.warp(block.timestamp + 365 days);
        IPrescriptions.RxTerms memory t = _terms();
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector, prescriber, PRESCRIBER_KIND
            )
        );
    }

    function test_RevertWhen_IssueDesignatedPharmacyNotActive() public {
        vm.prank(registrar);
        credentials.revoke(pharmacy2, 1);
        IPrescriptions.RxTerms memory t = _terms();
        t.pharmacy = pharmacy2;
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector, pharmacy2, PHARMACY_KIND
            )
        );
    }

    function test_RevertWhen_IssueWithoutConsent() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.patient = stranger;
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__ConsentMissing.selector, stranger, prescriber
            )
        );
    }

    function test_RevertWhen_IssueConsentRevoked() public {
        vm.prank(patient);
        consent.revoke(prescriber);
        _expectIssueRevert(
            _terms(),
            abi.encodeWithSelector(IPrescriptions.Prescriptions__ConsentMissing.selector, patient, prescriber)
        );
    }

    function test_RevertWhen_IssueConsentWithoutPrescribeScope() public {
        vm.prank(patient);
        consent.grant(prescriber, READ | WRITE, _inDays(30));
        _expectIssueRevert(
            _terms(),
            abi.encodeWithSelector(IPrescriptions.Prescriptions__ConsentMissing.selector, patient, prescriber)
        );
    }

    function test_RevertWhen_IssueOnEmergencyAccessOnly() public {
        vm.prank(prescriber);
        consent.openEmergencyAccess(stranger, 1, JUSTIFICATION, 1 hours);
        IPrescriptions.RxTerms memory t = _terms();
        t.patient = stranger;
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__ConsentMissing.selector, stranger, prescriber
            )
        );
    }

    function testFuzz_Issue_FillsRules(uint8 schedule, uint8 fills) public {
        uint8[5] memory schedules = [0, 2, 3, 4, 5];
        schedule = schedules[bound(schedule, 0, 4)];
        IPrescriptions.RxTerms memory t = _controlled(schedule);
        t.fills = fills;
        t.validUntil = uint32(block.timestamp + 30 days);
        uint8 maxFills = schedule == 2 ? 1 : (schedule == 3 || schedule == 4) ? 6 : 255;
        if (fills == 0 || fills > maxFills) {
            _expectIssueRevert(
                t,
                abi.encodeWithSelector(
                    IPrescriptions.Prescriptions__InvalidFills.selector, schedule, fills, maxFills
                )
            );
        } else {
            bytes32 rxId = _issue(t);
            (, uint256 authorized) = _totals(rxId);
            vm.assertEq(authorized, uint256(fills) * 30);
        }
    }

    function testFuzz_Issue_ValidityRules(uint8 schedule, uint256 validity) public {
        uint8[5] memory schedules = [0, 2, 3, 4, 5];
        schedule = schedules[bound(schedule, 0, 4)];
        validity = bound(validity, 1, 400 days);
        IPrescriptions.RxTerms memory t = _controlled(schedule);
        t.fills = 1;
        t.validUntil = uint32(block.timestamp + validity);
        // 21 CFR 1306.13(b) for II, 1306.22/1306.23 for III–V: six months from the date written.
        uint256 maxValidity = schedule == 2 ? 30 days : schedule != 0 ? 180 days : 0;
        if (maxValidity != 0 && validity > maxValidity) {
            _expectIssueRevert(
                t,
                abi.encodeWithSelector(
                    IPrescriptions.Prescriptions__ValidityTooLong.selector,
                    schedule,
                    t.validUntil,
                    block.timestamp + maxValidity
                )
            );
        } else {
            _issue(t);
        }
    }

    function testFuzz_Issue_ScheduleAuthority(uint8 authorized, uint8 schedule) public {
        authorized = uint8(bound(authorized, 0, 15)) << 2;
        schedule = uint8(bound(schedule, 2, 5));
        vm.prank(registrar);
        credentials.setSchedules(prescriber, authorized);
        IPrescriptions.RxTerms memory t = _controlled(schedule);
        t.fills = 1;
        t.validUntil = uint32(block.timestamp + 30 days);
        if ((authorized >> schedule) & 1 == 0) {
            _expectIssueRevert(
                t,
                abi.encodeWithSelector(
                    IPrescriptions.Prescriptions__ScheduleNotAuthorized.selector,
                    prescriber,
                    schedule,
                    authorized
                )
            );
        } else {
            _issue(t);
        }
    }

    // ================================================================ issueWithSig and EIP-712

    function test_IssueWithSig_RelayedByAnyone() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = rx.hashPrescription(t);
        bytes memory sig = signDigest(prescriberKey, rxId);
        vm.expectEmit(address(rx));
        emit IPrescriptions.PrescriptionIssued(rxId, patient, prescriber, t, relayer);
        vm.prank(relayer);
        vm.assertEq(rx.issueWithSig(t, sig), rxId);
        vm.assertEq(_rxState(rxId).prescriberId, 1);
    }

    function test_EIP712_RxIdEqualsWalletTypedData() public view {
        IPrescriptions.RxTerms memory t = _terms();
        t.pharmacy = pharmacy;
        t.schedule = 4;
        t.nonce = 0xC0FFEE;
        string memory json = t.typedData(_content(), address(rx), block.chainid);
        vm.assertEq(vm.eip712HashTypedData(json), rx.hashPrescription(t));
    }

    function test_EIP712_ContentHashEqualsWalletStructHash() public view {
        IPrescriptions.PrescriptionContent memory c = _content();
        vm.assertEq(rx.hashContent(c), vm.eip712HashStruct(PrescriptionsJson.CONTENT_TYPE, abi.encode(c)));
        vm.assertEq(rx.PRESCRIPTION_CONTENT_TYPEHASH(), vm.eip712HashType(PrescriptionsJson.CONTENT_TYPE));
        vm.assertEq(
            rx.PRESCRIPTION_TYPEHASH(),
            vm.eip712HashType(
                string.concat(PrescriptionsJson.PRESCRIPTION_TYPE, PrescriptionsJson.CONTENT_TYPE)
            )
        );
    }

    function test_EIP712_SignedTypedDataIsRelayable() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 digest = vm.eip712HashTypedData(t.typedData(_content(), address(rx), block.chainid));
        vm.prank(relayer);
        vm.assertEq(rx.issueWithSig(t, signDigest(prescriberKey, digest)), digest);
    }

    function test_RevertWhen_IssueWithSigWrongSigner() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = rx.hashPrescription(t);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__InvalidSignature.selector, rxId, prescriber)
        );
        rx.issueWithSig(t, signDigest(patientKey, rxId));
    }

    function testFuzz_RevertWhen_IssueWithSigTermsAltered(uint32 quantityPerFill) public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes memory sig = signDigest(prescriberKey, rx.hashPrescription(t));
        t.quantityPerFill = uint32(bound(quantityPerFill, 31, type(uint32).max));
        bytes32 alteredId = rx.hashPrescription(t);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__InvalidSignature.selector, alteredId, prescriber
            )
        );
        rx.issueWithSig(t, sig);
    }

    function test_RevertWhen_IssueWithSigReplayed() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = rx.hashPrescription(t);
        bytes memory sig = signDigest(prescriberKey, rxId);
        rx.issueWithSig(t, sig);
        vm.expectRevert(abi.encodeWithSelector(IPrescriptions.Prescriptions__AlreadyIssued.selector, rxId));
        rx.issueWithSig(t, sig);
    }

    function testFuzz_RevertWhen_IssueWithSigWrongChainId(uint256 chainId) public {
        chainId = bound(chainId, 1, type(uint64).max - 1);
        if (chainId == block.chainid) chainId++;
        IPrescriptions.RxTerms memory t = _terms();
        bytes memory sig = signDigest(prescriberKey, rx.hashPrescription(t));
        vm.chainId(chainId);
        bytes32 rxIdThere = rx.hashPrescription(t);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__InvalidSignature.selector, rxIdThere, prescriber
            )
        );
        rx.issueWithSig(t, sig);
    }

    function test_RevertWhen_IssueWithSigForAnotherDeployment() public {
        Prescriptions other = new Prescriptions(credentials, consent);
        IPrescriptions.RxTerms memory t = _terms();
        bytes memory sig = signDigest(prescriberKey, other.hashPrescription(t));
        bytes32 rxId = rx.hashPrescription(t);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__InvalidSignature.selector, rxId, prescriber)
        );
        rx.issueWithSig(t, sig);
    }

    function test_IssueWithSig_ERC1271Prescriber() public {
        MockERC1271Wallet wallet = _registerWalletPrescriber();
        IPrescriptions.RxTerms memory t = _terms();
        t.prescriber = address(wallet);
        bytes32 rxId = rx.hashPrescription(t);
        rx.issueWithSig(t, signDigest(prescriberKey, rxId));
        vm.assertEq(_rxState(rxId).prescriberId, 5);
    }

    function test_RevertWhen_IssueWithSigERC1271WrongOwner() public {
        MockERC1271Wallet wallet = _registerWalletPrescriber();
        IPrescriptions.RxTerms memory t = _terms();
        t.prescriber = address(wallet);
        bytes32 rxId = rx.hashPrescription(t);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__InvalidSignature.selector, rxId, address(wallet)
            )
        );
        rx.issueWithSig(t, signDigest(patientKey, rxId));
    }

    function test_RevertWhen_IssueWithSigERC1271BadMagic() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.prescriber = address(new BadMagicERC1271Wallet());
        bytes32 rxId = rx.hashPrescription(t);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__InvalidSignature.selector, rxId, t.prescriber
            )
        );
        rx.issueWithSig(t, signDigest(prescriberKey, rxId));
    }

    function test_RevertWhen_IssueWithSigERC1271Reverts() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.prescriber = address(new RevertingERC1271Wallet());
        bytes32 rxId = rx.hashPrescription(t);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__InvalidSignature.selector, rxId, t.prescriber
            )
        );
        rx.issueWithSig(t, signDigest(prescriberKey, rxId));
    }

    function _registerWalletPrescriber() internal returns (MockERC1271Wallet wallet) {
        wallet = new MockERC1271Wallet(prescriber);
        vm.prank(registrar);
        credentials.register(
            address(wallet), PRESCRIBER_KIND, keccak256("wallet license"), US_CA, _inDays(30), 0
        );
        vm.prank(patient);
        consent.grant(address(wallet), PRESCRIBE, _inDays(30));
    }

    // ================================================================ cancel

    function test_Cancel_ByIssuingPrescriber() public {
        bytes32 rxId = _issue(_terms());
        vm.expectEmit(address(rx));
        emit IPrescriptions.PrescriptionCancelled(rxId, prescriber, IPrescriptions.Canceller.Prescriber, 12);
        vm.prank(prescriber);
        rx.cancel(rxId, 12);
        vm.assertEq(_rxState(rxId).flags, rx.FLAG_CANCELLED());
        _expectDispenseRevert(
            pharmacy,
            rxId,
            1,
            abi.encodeWithSelector(IPrescriptions.Prescriptions__PrescriptionCancelled.selector, rxId)
        );
    }

    function test_Cancel_WhileSuspended() public {
        bytes32 rxId = _issue(_terms());
        vm.prank(registrar);
        credentials.suspend(prescriber, 1);
        vm.prank(prescriber);
        rx.cancel(rxId, 1);
        vm.assertEq(_rxState(rxId).flags, rx.FLAG_CANCELLED());
    }

    function test_RevertWhen_CancelByOtherPrescriber() public {
        bytes32 rxId = _issue(_terms());
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__NotIssuingPrescriber.selector, rxId, prescriber2
            )
        );
        vm.prank(prescriber2);
        rx.cancel(rxId, 1);
    }

    function test_RevertWhen_CancelByUnregisteredAccount() public {
        bytes32 rxId = _issue(_terms());
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__NotIssuingPrescriber.selector, rxId, stranger
            )
        );
        vm.prank(stranger);
        rx.cancel(rxId, 1);
    }

    function test_RevertWhen_CancelTwice() public {
        bytes32 rxId = _issue(_terms());
        vm.startPrank(prescriber);
        rx.cancel(rxId, 1);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__PrescriptionCancelled.selector, rxId)
        );
        rx.cancel(rxId, 1);
        vm.stopPrank();
    }

    function test_RevertWhen_CancelUnknown() public {
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__UnknownPrescription.selector, bytes32("x"))
        );
        vm.prank(prescriber);
        rx.cancel(bytes32("x"), 1);
    }

    // ================================================================ changePharmacy

    function test_ChangePharmacy_DesignatedToOther() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.pharmacy = pharmacy;
        bytes32 rxId = _issue(t);
        vm.expectEmit(address(rx));
        emit IPrescriptions.PharmacyChanged(rxId, patient, pharmacy2, pharmacy, false);
        vm.prank(patient);
        rx.changePharmacy(t, pharmacy2);
        vm.assertEq(_rxState(rxId).pharmacyId, 4);
        _expectDispenseRevert(
            pharmacy,
            rxId,
            1,
            abi.encodeWithSelector(IPrescriptions.Prescriptions__WrongPharmacy.selector, rxId, 4, 3)
        );
        _dispenseBy(pharmacy2, rxId, 30);
    }

    function test_ChangePharmacy_ToAnyAndBack() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.pharmacy = pharmacy2;
        bytes32 rxId = _issue(t);
        vm.expectEmit(address(rx));
        emit IPrescriptions.PharmacyChanged(rxId, patient, address(0), pharmacy2, false);
        vm.prank(patient);
        rx.changePharmacy(t, address(0));
        vm.assertEq(_rxState(rxId).pharmacyId, 0);
        _dispense(rxId, 30);

        vm.expectEmit(address(rx));
        emit IPrescriptions.PharmacyChanged(rxId, patient, pharmacy2, address(0), false);
        vm.prank(patient);
        rx.changePharmacy(t, pharmacy2);
    }

    function test_RevertWhen_ChangePharmacyNotPatient() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = _issue(t);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__NotPatient.selector, rxId, prescriber)
        );
        vm.prank(prescriber);
        rx.changePharmacy(t, pharmacy);
    }

    function test_RevertWhen_ChangePharmacyUnknownTerms() public {
        IPrescriptions.RxTerms memory t = _terms();
        _issue(t);
        t.nonce = 99;
        bytes32 wrongId = rx.hashPrescription(t);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__UnknownPrescription.selector, wrongId)
        );
        vm.prank(patient);
        rx.changePharmacy(t, pharmacy);
    }

    function test_RevertWhen_ChangePharmacyCancelled() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = _issue(t);
        vm.prank(prescriber);
        rx.cancel(rxId, 1);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__PrescriptionCancelled.selector, rxId)
        );
        vm.prank(patient);
        rx.changePharmacy(t, pharmacy);
    }

    function test_RevertWhen_ChangePharmacyExpired() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = _issue(t);
        vm.warp(uint256(t.validUntil) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__PrescriptionExpired.selector,
                rxId,
                t.validUntil,
                block.timestamp
            )
        );
        vm.prank(patient);
        rx.changePharmacy(t, pharmacy);
    }

    function test_RevertWhen_ChangePharmacyUnchanged() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = _issue(t);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__PharmacyUnchanged.selector, rxId, address(0))
        );
        vm.prank(patient);
        rx.changePharmacy(t, address(0));
    }

    function test_RevertWhen_ChangePharmacyToInactivePharmacy() public {
        IPrescriptions.RxTerms memory t = _terms();
        _issue(t);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector, stranger, PHARMACY_KIND
            )
        );
        vm.prank(patient);
        rx.changePharmacy(t, stranger);
    }

    // ================================================================ dispense

    function test_Dispense_FirstFill() public {
        bytes32 rxId = _issue(_terms());
        bytes32 record = keccak256("dispensing record, salted");
        vm.expectEmit(address(rx));
        emit IPrescriptions.PrescriptionDispensed(rxId, pharmacy, 1, 30, 30, 30, record);
        vm.prank(pharmacy);
        rx.dispense(rxId, 30, 0, false, record);
        IPrescriptions.Rx memory s = _rxState(rxId);
        vm.assertEq(s.fillsUsed, 1);
        vm.assertEq(s.openFillDispensed, 30);
        vm.assertEq(s.nextFillAt, block.timestamp + 25 days);
        (uint256 dispensed,) = _totals(rxId);
        vm.assertEq(dispensed, 30);
    }

    function test_Dispense_PartialFillsThenRefills() public {
        bytes32 rxId = _issue(_terms());
        _dispense(rxId, 10);
        vm.warp(block.timestamp + 2 days);
        vm.expectEmit(address(rx));
        emit IPrescriptions.PrescriptionDispensed(
            rxId, pharmacy, 1, 20, 30, 30, keccak256(abi.encode(rxId, uint32(20), block.timestamp))
        );
        _dispense(rxId, 20); // completes fill 1, no interval check
        vm.assertEq(_rxState(rxId).nextFillAt, START + 25 days); // interval counts from the fill's start

        vm.warp(START + 25 days);
        _dispense(rxId, 30); // fill 2
        vm.warp(START + 50 days);
        _dispense(rxId, 5); // fill 3, partial
        vm.expectEmit(address(rx));
        emit IPrescriptions.PrescriptionDispensed(
            rxId, pharmacy, 3, 25, 30, 90, keccak256(abi.encode(rxId, uint32(25), block.timestamp))
        );
        _dispense(rxId, 25);
        (uint256 dispensed, uint256 authorized) = _totals(rxId);
        vm.assertEq(dispensed, authorized);
        _expectDispenseRevert(
            pharmacy,
            rxId,
            1,
            abi.encodeWithSelector(IPrescriptions.Prescriptions__NoFillsRemaining.selector, rxId, 3)
        );
    }

    function test_Dispense_ScheduleIIPartialFillsWithinThirtyDays() public {
        IPrescriptions.RxTerms memory t = _schedule2();
        bytes32 rxId = _issue(t);
        _dispense(rxId, 20);
        vm.warp(block.timestamp + 10 days);
        _dispense(rxId, 20);
        vm.warp(uint256(t.validUntil) - 1); // the last second of [dateWritten, dateWritten + 30 days)
        _dispense(rxId, 19);
        vm.warp(t.validUntil);
        _expectDispenseRevert(
            pharmacy,
            rxId,
            1,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__PrescriptionExpired.selector,
                rxId,
                t.validUntil,
                block.timestamp
            )
        );
    }

    function test_RevertWhen_DispenseBeforeEarliestFill() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.earliestFillAt = uint32(block.timestamp + 3 days);
        bytes32 rxId = _issue(t);
        _expectDispenseRevert(
            pharmacy,
            rxId,
            30,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__TooEarly.selector, rxId, t.earliestFillAt, block.timestamp
            )
        );
        vm.warp(t.earliestFillAt);
        _dispense(rxId, 30);
    }

    function test_RevertWhen_DispenseRefillBeforeInterval() public {
        bytes32 rxId = _issue(_terms());
        _dispense(rxId, 30);
        vm.warp(block.timestamp + 25 days - 1);
        _expectDispenseRevert(
            pharmacy,
            rxId,
            30,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__TooEarly.selector, rxId, START + 25 days, block.timestamp
            )
        );
    }

    function test_RevertWhen_DispenseOverFill() public {
        bytes32 rxId = _issue(_terms());
        _expectDispenseRevert(
            pharmacy,
            rxId,
            31,
            abi.encodeWithSelector(IPrescriptions.Prescriptions__QuantityExceeded.selector, rxId, 31, 30)
        );
    }

    function test_RevertWhen_DispenseOverOpenFillRemainder() public {
        bytes32 rxId = _issue(_terms());
        _dispense(rxId, 25);
        _expectDispenseRevert(
            pharmacy,
            rxId,
            6,
            abi.encodeWithSelector(IPrescriptions.Prescriptions__QuantityExceeded.selector, rxId, 6, 5)
        );
    }

    function test_RevertWhen_DispenseZeroQuantity() public {
        bytes32 rxId = _issue(_terms());
        _expectDispenseRevert(
            pharmacy,
            rxId,
            0,
            abi.encodeWithSelector(IPrescriptions.Prescriptions__ZeroQuantity.selector, rxId)
        );
    }

    function test_RevertWhen_DispenseUnknown() public {
        _expectDispenseRevert(
            pharmacy,
            bytes32("nope"),
            1,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__UnknownPrescription.selector, bytes32("nope")
            )
        );
    }

    function test_RevertWhen_DispenseByWrongPharmacy() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.pharmacy = pharmacy2;
        bytes32 rxId = _issue(t);
        _expectDispenseRevert(
            pharmacy,
            rxId,
            1,
            abi.encodeWithSelector(IPrescriptions.Prescriptions__WrongPharmacy.selector, rxId, 4, 3)
        );
    }

    function test_RevertWhen_DispenseByNonPharmacy() public {
        bytes32 rxId = _issue(_terms());
        _expectDispenseRevert(
            prescriber,
            rxId,
            1,
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector, prescriber, PHARMACY_KIND
            )
        );
    }

    function test_RevertWhen_DispenseBySuspendedPharmacy() public {
        bytes32 rxId = _issue(_terms());
        vm.prank(registrar);
        credentials.suspend(pharmacy, 2);
        _expectDispenseRevert(
            pharmacy,
            rxId,
            1,
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector, pharmacy, PHARMACY_KIND
            )
        );
    }

    function test_RevertWhen_DispenseAfterExpiry() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = _issue(t);
        vm.warp(uint256(t.validUntil) + 1);
        _expectDispenseRevert(
            pharmacy,
            rxId,
            1,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__PrescriptionExpired.selector,
                rxId,
                t.validUntil,
                block.timestamp
            )
        );
    }

    function test_Dispense_NextFillClampedAtUint32Max() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.minFillInterval = type(uint32).max;
        bytes32 rxId = _issue(t);
        _dispense(rxId, 30);
        vm.assertEq(_rxState(rxId).nextFillAt, type(uint32).max);
    }

    function testFuzz_Dispense_NeverExceedsAuthorized(uint8 fills, uint32 quantityPerFill, uint256 seed)
        public
    {
        IPrescriptions.RxTerms memory t = _terms();
        t.fills = uint8(bound(fills, 1, 8));
        t.quantityPerFill = uint32(bound(quantityPerFill, 1, 100));
        t.minFillInterval = 0;
        bytes32 rxId = _issue(t);
        uint256 authorized = uint256(t.fills) * t.quantityPerFill;
        uint256 ghost;
        for (uint256 i; i < 40; ++i) {
            uint32 q = uint32(bound(uint256(keccak256(abi.encode(seed, i))), 1, 2 * t.quantityPerFill));
            uint256 before = _dispensedOf(rxId);
            vm.prank(pharmacy);
            try rx.dispense(rxId, q, before, false, bytes32(i)) {
                ghost += q;
            } catch {}
            (uint256 dispensed,) = _totals(rxId);
            vm.assertEq(dispensed, ghost);
            vm.assertLe(dispensed, authorized);
        }
    }

    function testFuzz_Dispense_MinFillInterval(uint32 interval, uint256 elapsed) public {
        IPrescriptions.RxTerms memory t = _terms();
        t.minFillInterval = uint32(bound(interval, 0, 60 days));
        bytes32 rxId = _issue(t);
        _dispense(rxId, 30);
        elapsed = bound(elapsed, 0, 89 days);
        vm.warp(block.timestamp + elapsed);
        if (elapsed < t.minFillInterval) {
            _expectDispenseRevert(
                pharmacy,
                rxId,
                30,
                abi.encodeWithSelector(
                    IPrescriptions.Prescriptions__TooEarly.selector,
                    rxId,
                    START + t.minFillInterval,
                    block.timestamp
                )
            );
        } else {
            _dispense(rxId, 30);
            vm.assertEq(_rxState(rxId).fillsUsed, 2);
        }
    }

    /// @dev [start, end): dispensable up to the second before validUntil, not at it (the convention of all four
    ///      contracts).
    function testFuzz_Dispense_ValidUntilIsExclusive(uint256 validity, uint256 elapsed) public {
        IPrescriptions.RxTerms memory t = _terms();
        validity = bound(validity, 1, 180 days); // doubled, stays within the pharmacy's 365-day license
        t.validUntil = uint32(block.timestamp + validity);
        bytes32 rxId = _issue(t);
        elapsed = bound(elapsed, 0, 2 * validity);
        vm.warp(block.timestamp + elapsed);
        if (block.timestamp >= t.validUntil) {
            _expectDispenseRevert(
                pharmacy,
                rxId,
                1,
                abi.encodeWithSelector(
                    IPrescriptions.Prescriptions__PrescriptionExpired.selector,
                    rxId,
                    t.validUntil,
                    block.timestamp
                )
            );
        } else {
            _dispense(rxId, 1);
        }
    }

    function test_PrescriptionOf_Unknown() public view {
        (IPrescriptions.Rx memory s, uint256 dispensed, uint256 authorized) =
            rx.prescriptionOf(bytes32("none"));
        vm.assertEq(s.fills, 0);
        vm.assertEq(dispensed, 0);
        vm.assertEq(authorized, 0);
    }
}

/// @notice Builds the `eth_signTypedData_v4` JSON a wallet is shown for a prescription.
library PrescriptionsJson {
    string internal constant CONTENT_TYPE =
        "PrescriptionContent(string patientName,string patientIdentifier,string rxnormCode,string drugName,string strength,string dosageInstructions,uint32 quantity,string unit,bool substitutionAllowed,bytes32 salt)";
    string internal constant PRESCRIPTION_TYPE =
        "Prescription(address patient,address prescriber,PrescriptionContent content,uint8 fills,uint32 quantityPerFill,uint16 daysSupply,uint32 dateWritten,uint32 earliestFillAt,uint32 validUntil,uint32 minFillInterval,uint8 schedule,bool longTermCare,address pharmacy,uint256 nonce,uint32 deadline)";

    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    function typedData(
        IPrescriptions.RxTerms memory t,
        IPrescriptions.PrescriptionContent memory c,
        address verifyingContract,
        uint256 chainId
    ) internal pure returns (string memory) {
        return string.concat(_types(), _domain(verifyingContract, chainId), _message(t, c), "}");
    }

    function _types() private pure returns (string memory) {
        return string.concat(
            '{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},',
            '{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],',
            '"Prescription":[{"name":"patient","type":"address"},{"name":"prescriber","type":"address"},',
            '{"name":"content","type":"PrescriptionContent"},{"name":"fills","type":"uint8"},',
            '{"name":"quantityPerFill","type":"uint32"},{"name":"daysSupply","type":"uint16"},',
            '{"name":"dateWritten","type":"uint32"},{"name":"earliestFillAt","type":"uint32"},',
            '{"name":"validUntil","type":"uint32"},{"name":"minFillInterval","type":"uint32"},',
            '{"name":"schedule","type":"uint8"},{"name":"longTermCare","type":"bool"},',
            '{"name":"pharmacy","type":"address"},',
            '{"name":"nonce","type":"uint256"},{"name":"deadline","type":"uint32"}],',
            '"PrescriptionContent":[{"name":"patientName","type":"string"},',
            '{"name":"patientIdentifier","type":"string"},{"name":"rxnormCode","type":"string"},',
            '{"name":"drugName","type":"string"},{"name":"strength","type":"string"},',
            '{"name":"dosageInstructions","type":"string"},{"name":"quantity","type":"uint32"},',
            '{"name":"unit","type":"string"},{"name":"substitutionAllowed","type":"bool"},',
            '{"name":"salt","type":"bytes32"}]},"primaryType":"Prescription",'
        );
    }

    function _domain(address verifyingContract, uint256 chainId) private pure returns (string memory) {
        return string.concat(
            '"domain":{"name":"medledger Prescriptions","version":"1","chainId":',
            vm.toString(chainId),
            ',"verifyingContract":"',
            vm.toString(verifyingContract),
            '"},'
        );
    }

    function _message(IPrescriptions.RxTerms memory t, IPrescriptions.PrescriptionContent memory c)
        private
        pure
        returns (string memory)
    {
        string memory head = string.concat(
            '"message":{"patient":"',
            vm.toString(t.patient),
            '","prescriber":"',
            vm.toString(t.prescriber),
            '","content":',
            _content(c),
            ',"fills":',
            vm.toString(uint256(t.fills)),
            ',"quantityPerFill":',
            vm.toString(uint256(t.quantityPerFill)),
            ',"daysSupply":',
            vm.toString(uint256(t.daysSupply)),
            ',"dateWritten":',
            vm.toString(uint256(t.dateWritten)),
            ',"earliestFillAt":',
            vm.toString(uint256(t.earliestFillAt))
        );
        return string.concat(
            head,
            string.concat(
                ',"validUntil":',
                vm.toString(uint256(t.validUntil)),
                ',"minFillInterval":',
                vm.toString(uint256(t.minFillInterval)),
                ',"schedule":',
                vm.toString(uint256(t.schedule)),
                ',"longTermCare":',
                t.longTermCare ? "true" : "false",
                ',"pharmacy":"',
                vm.toString(t.pharmacy),
                '","nonce":"',
                vm.toString(t.nonce),
                '","deadline":',
                vm.toString(uint256(t.deadline)),
                "}"
            )
        );
    }

    function _content(IPrescriptions.PrescriptionContent memory c) private pure returns (string memory) {
        string memory head = string.concat(
            '{"patientName":"',
            c.patientName,
            '","patientIdentifier":"',
            c.patientIdentifier,
            '","rxnormCode":"',
            c.rxnormCode,
            '","drugName":"',
            c.drugName,
            '","strength":"',
            c.strength
        );
        return string.concat(
            head,
            string.concat(
                '","dosageInstructions":"',
                c.dosageInstructions,
                '","quantity":',
                vm.toString(uint256(c.quantity)),
                ',"unit":"',
                c.unit,
                '","substitutionAllowed":',
                c.substitutionAllowed ? "true" : "false",
                ',"salt":"',
                vm.toString(c.salt),
                '"}'
            )
        );
    }
}
