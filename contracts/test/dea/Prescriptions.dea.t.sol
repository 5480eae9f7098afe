// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ICredentialRegistry} from "../../src/interfaces/ICredentialRegistry.sol";
import {IPrescriptions} from "../../src/interfaces/IPrescriptions.sol";
import {Fixture} from "../utils/Fixture.sol";

/// @notice Issue 19, DEA rules: each test names the 21 CFR section it enforces. Every `test_RevertWhen_` was
///         accepted by the contracts before the fix.
contract PrescriptionsDeaTest is Fixture {
    function _schedule2() internal view returns (IPrescriptions.RxTerms memory t) {
        t = _terms();
        t.schedule = 2;
        t.fills = 1;
        t.quantityPerFill = 60;
        t.validUntil = uint32(block.timestamp + 30 days);
        t.minFillInterval = 0;
        t.pharmacy = pharmacy;
    }

    function _controlled(uint8 schedule) internal view returns (IPrescriptions.RxTerms memory t) {
        t = _terms();
        t.schedule = schedule;
        t.pharmacy = pharmacy;
    }

    function _expectIssueRevert(IPrescriptions.RxTerms memory t, bytes memory err) internal {
        vm.expectRevert(err);
        vm.prank(t.prescriber);
        rx.issue(t);
    }

    function _expectDispenseRevert(
        address by,
        bytes32 rxId,
        uint32 quantity,
        bool shortSupply,
        bytes memory err
    ) internal {
        uint256 before = _dispensedOf(rxId);
        vm.expectRevert(err);
        vm.prank(by);
        rx.dispense(rxId, quantity, before, shortSupply, bytes32(0));
    }

    function _dispenseShort(bytes32 rxId, uint32 quantity) internal {
        uint256 before = _dispensedOf(rxId);
        vm.prank(pharmacy);
        rx.dispense(rxId, quantity, before, true, keccak256("short supply record"));
    }

    function _expired(bytes32 rxId, uint256 validUntil) internal view returns (bytes memory) {
        return abi.encodeWithSelector(
            IPrescriptions.Prescriptions__PrescriptionExpired.selector, rxId, validUntil, block.timestamp
        );
    }

    // ---------------------------------------------------------------- 21 CFR 1306.23: III–V, six months

    /// @dev 1306.23(c): no partial fill of a III–V prescription after six months from the date written. Before,
    ///      a schedule V had no limit at all (a partial fill was completed 200 days later).
    function test_RevertWhen_ScheduleVValidBeyondSixMonths_1306_23() public {
        IPrescriptions.RxTerms memory t = _controlled(5);
        t.validUntil = uint32(block.timestamp + 200 days);
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__ValidityTooLong.selector,
                5,
                t.validUntil,
                block.timestamp + 180 days
            )
        );
    }

    function test_ScheduleV_PartialFillUntilSixMonths_1306_23() public {
        IPrescriptions.RxTerms memory t = _controlled(5);
        t.validUntil = uint32(block.timestamp + 180 days);
        bytes32 rxId = _issue(t);
        _dispense(rxId, 10);
        vm.warp(uint256(t.validUntil) - 1);
        _dispense(rxId, 10);
        vm.warp(t.validUntil);
        _expectDispenseRevert(pharmacy, rxId, 10, false, _expired(rxId, t.validUntil));
    }

    /// @dev The six months count from the date written, not the issue: written 100 days before it was issued.
    function test_RevertWhen_ScheduleIIIWrittenLongBeforeIssue_1306_22() public {
        vm.warp(block.timestamp + 100 days);
        IPrescriptions.RxTerms memory t = _controlled(3);
        t.dateWritten = uint32(START);
        t.validUntil = uint32(block.timestamp + 90 days);
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__ValidityTooLong.selector, 3, t.validUntil, START + 180 days
            )
        );
    }

    // ---------------------------------------------------------------- 21 CFR 1306.13: schedule II partial fills

    /// @dev 1306.13(a): the pharmacy is short; the balance within 72 hours, then no more. Before, the 30-day
    ///      window applied whatever the reason.
    function test_RevertWhen_ScheduleIIShortSupplyBalanceAfter72Hours_1306_13a() public {
        bytes32 rxId = _issue(_schedule2());
        uint32 due = uint32(block.timestamp + 72 hours);
        vm.expectEmit(address(rx));
        emit IPrescriptions.ShortSupplyBalanceDue(rxId, pharmacy, due);
        _dispenseShort(rxId, 20);
        vm.assertEq(_rxStateValidUntil(rxId), due);
        vm.warp(uint256(due) - 1);
        _dispense(rxId, 20);
        vm.warp(due);
        _expectDispenseRevert(pharmacy, rxId, 20, false, _expired(rxId, due));
    }

    /// @dev 1306.13(b): requested by the patient or prescriber: the remaining portions within 30 days.
    function test_ScheduleII_RequestedPartialFillsWithin30Days_1306_13b() public {
        IPrescriptions.RxTerms memory t = _schedule2();
        bytes32 rxId = _issue(t);
        _dispense(rxId, 20);
        vm.warp(block.timestamp + 10 days); // well past 72 hours: not a short-supply partial fill
        _dispense(rxId, 20);
        vm.warp(uint256(t.validUntil) - 1);
        _dispense(rxId, 20);
    }

    /// @dev 1306.13(b): long-term-care or terminally ill patient: 60 days (was capped at 30 before).
    function test_ScheduleII_LongTermCarePartialFillsWithin60Days_1306_13b() public {
        IPrescriptions.RxTerms memory t = _schedule2();
        t.longTermCare = true;
        t.validUntil = uint32(block.timestamp + 60 days);
        bytes32 rxId = _issue(t);
        _dispense(rxId, 20);
        vm.warp(uint256(t.validUntil) - 1);
        _dispense(rxId, 20);
        vm.warp(t.validUntil);
        _expectDispenseRevert(pharmacy, rxId, 20, false, _expired(rxId, t.validUntil));
    }

    function test_RevertWhen_ScheduleIIValidBeyond30DaysWithoutLongTermCare_1306_13b() public {
        IPrescriptions.RxTerms memory t = _schedule2();
        t.validUntil = uint32(block.timestamp + 31 days);
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

    function test_RevertWhen_ScheduleIILongTermCareBeyond60Days_1306_13b() public {
        IPrescriptions.RxTerms memory t = _schedule2();
        t.longTermCare = true;
        t.validUntil = uint32(block.timestamp + 60 days + 1);
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__ValidityTooLong.selector,
                2,
                t.validUntil,
                block.timestamp + 60 days
            )
        );
    }

    function test_RevertWhen_LongTermCareOnScheduleIII_1306_13b() public {
        IPrescriptions.RxTerms memory t = _controlled(3);
        t.longTermCare = true;
        _expectIssueRevert(
            t, abi.encodeWithSelector(IPrescriptions.Prescriptions__LongTermCareNotApplicable.selector, 3)
        );
    }

    function test_RevertWhen_ShortSupplyOnNonScheduleII_1306_13a() public {
        IPrescriptions.RxTerms memory t = _controlled(3);
        bytes32 rxId = _issue(t);
        _expectDispenseRevert(
            pharmacy,
            rxId,
            10,
            true,
            abi.encodeWithSelector(IPrescriptions.Prescriptions__ShortSupplyNotApplicable.selector, rxId, 3)
        );
    }

    function test_RevertWhen_ShortSupplyOnFullFill_1306_13a() public {
        bytes32 rxId = _issue(_schedule2());
        _expectDispenseRevert(
            pharmacy,
            rxId,
            60,
            true,
            abi.encodeWithSelector(IPrescriptions.Prescriptions__ShortSupplyNotApplicable.selector, rxId, 2)
        );
    }

    function _rxStateValidUntil(bytes32 rxId) internal view returns (uint32) {
        (IPrescriptions.Rx memory s,,) = rx.prescriptionOf(rxId);
        return s.validUntil;
    }

    // ---------------------------------------------------------------- 21 CFR 1306.12(b): series of schedule II

    /// @dev Three prescriptions written the same day for 30 days each, to be filled on days 0, 30 and 60: a
    ///      90-day supply. Before: the later two could not be issued (30-day cap from the issue).
    function test_ScheduleII_SeriesWrittenSameDayUpTo90Days_1306_12b() public {
        bytes32[3] memory ids;
        for (uint256 i; i < 3; ++i) {
            IPrescriptions.RxTerms memory t = _schedule2();
            t.nonce = 100 + i;
            t.earliestFillAt = uint32(block.timestamp + i * 30 days);
            t.validUntil = uint32(uint256(t.earliestFillAt) + 30 days);
            ids[i] = _issue(t);
        }
        _dispense(ids[0], 60);
        _expectDispenseRevert(
            pharmacy,
            ids[1],
            60,
            false,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__TooEarly.selector, ids[1], START + 30 days, block.timestamp
            )
        );
        vm.warp(START + 30 days);
        _dispense(ids[1], 60);
        vm.warp(START + 60 days);
        _dispense(ids[2], 60);
    }

    function test_RevertWhen_ScheduleIISeriesBeyond90Days_1306_12b() public {
        IPrescriptions.RxTerms memory t = _schedule2();
        t.earliestFillAt = uint32(block.timestamp + 60 days);
        t.daysSupply = 31;
        t.validUntil = uint32(uint256(t.earliestFillAt) + 30 days);
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__SupplyBeyondNinetyDays.selector,
                t.earliestFillAt,
                31,
                block.timestamp + 90 days
            )
        );
    }

    function test_RevertWhen_ControlledWithoutDaysSupply() public {
        IPrescriptions.RxTerms memory t = _schedule2();
        t.daysSupply = 0;
        _expectIssueRevert(
            t, abi.encodeWithSelector(IPrescriptions.Prescriptions__InvalidDaysSupply.selector, 2, 0)
        );
    }

    // ---------------------------------------------------------------- 21 CFR 1306.08(e) / 1306.25: one transfer

    /// @dev An EPCS may be transferred once between pharmacies. Before: unlimited moves, mid-fill included.
    function test_RevertWhen_ControlledTransferredTwice_1306_25() public {
        IPrescriptions.RxTerms memory t = _controlled(3);
        bytes32 rxId = _issue(t);
        _dispense(rxId, 10);
        vm.expectEmit(address(rx));
        emit IPrescriptions.PharmacyChanged(rxId, patient, pharmacy2, pharmacy, true);
        vm.prank(patient);
        rx.changePharmacy(t, pharmacy2);
        _dispenseBy(pharmacy2, rxId, 20);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__AlreadyTransferred.selector, rxId)
        );
        vm.prank(patient);
        rx.changePharmacy(t, pharmacy);
    }

    /// @dev The one transfer cannot be spent on a pharmacy whose registration lacks the schedule (it could never
    ///      dispense it). Before: the move succeeded and the prescription was stranded there.
    function test_RevertWhen_ControlledTransferredToPharmacyLackingSchedule() public {
        IPrescriptions.RxTerms memory t = _controlled(3);
        bytes32 rxId = _issue(t);
        vm.prank(registrar);
        credentials.setSchedules(pharmacy2, 1 << 4 | 1 << 5);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__PharmacyLacksSchedule.selector,
                rxId,
                pharmacy2,
                3,
                1 << 4 | 1 << 5
            )
        );
        vm.prank(patient);
        rx.changePharmacy(t, pharmacy2);
        vm.prank(registrar);
        credentials.setSchedules(pharmacy2, 1 << 3);
        vm.prank(patient);
        rx.changePharmacy(t, pharmacy2);
    }

    function test_RevertWhen_ScheduleIITransferredAfterFill_1306_08() public {
        IPrescriptions.RxTerms memory t = _schedule2();
        bytes32 rxId = _issue(t);
        _dispense(rxId, 20);
        vm.expectRevert(
            abi.encodeWithSelector(IPrescriptions.Prescriptions__TransferAfterFill.selector, rxId, 1)
        );
        vm.prank(patient);
        rx.changePharmacy(t, pharmacy2);
    }

    function test_ScheduleII_TransferredOnceBeforeFill_1306_08() public {
        IPrescriptions.RxTerms memory t = _schedule2();
        bytes32 rxId = _issue(t);
        vm.prank(patient);
        rx.changePharmacy(t, pharmacy2);
        (IPrescriptions.Rx memory s,,) = rx.prescriptionOf(rxId);
        vm.assertEq(s.flags, rx.FLAG_TRANSFERRED());
        _dispenseBy(pharmacy2, rxId, 60);
    }

    function test_RevertWhen_ControlledTransferredToAnyPharmacy_1306_25() public {
        IPrescriptions.RxTerms memory t = _controlled(4);
        _issue(t);
        vm.expectRevert(abi.encodeWithSelector(IPrescriptions.Prescriptions__PharmacyRequired.selector, 4));
        vm.prank(patient);
        rx.changePharmacy(t, address(0));
    }

    function test_RevertWhen_ControlledIssuedForAnyPharmacy_1306_08() public {
        IPrescriptions.RxTerms memory t = _controlled(4);
        t.pharmacy = address(0);
        _expectIssueRevert(
            t, abi.encodeWithSelector(IPrescriptions.Prescriptions__PharmacyRequired.selector, 4)
        );
    }

    // ---------------------------------------------------------------- pharmacy registration (21 CFR 1301.13)

    /// @dev Before: any active pharmacy dispensed any schedule; pharmacies had no schedules at all.
    function test_RevertWhen_DispenseByPharmacyNotRegisteredForSchedule_1301_13() public {
        vm.prank(registrar);
        credentials.setSchedules(pharmacy, 0x38); // III–V only
        bytes32 rxId = _issue(_schedule2());
        _expectDispenseRevert(
            pharmacy,
            rxId,
            60,
            false,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__PharmacyLacksSchedule.selector, rxId, pharmacy, 2, 0x38
            )
        );
    }

    function test_Dispense_NonControlledNeedsNoPharmacySchedule() public {
        vm.prank(registrar);
        credentials.setSchedules(pharmacy, 0);
        _dispense(_issue(_terms()), 30);
    }

    // ---------------------------------------------------------------- III/IV refills spaced by days' supply

    /// @dev Before: five refills of a schedule III all went out on day one (minFillInterval 0).
    function test_RevertWhen_ScheduleIIIRefillsCloserThanDaysSupply_1306_22() public {
        IPrescriptions.RxTerms memory t = _controlled(3);
        t.fills = 6;
        t.minFillInterval = 0;
        _expectIssueRevert(
            t,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__FillIntervalTooShort.selector, 3, 0, uint256(30 days) * 3 / 4
            )
        );
    }

    function test_ScheduleIV_RefillAfterThreeQuartersOfDaysSupply_1306_22() public {
        IPrescriptions.RxTerms memory t = _controlled(4);
        t.minFillInterval = uint32(uint256(30 days) * 3 / 4);
        bytes32 rxId = _issue(t);
        _dispense(rxId, 30);
        _expectDispenseRevert(
            pharmacy,
            rxId,
            30,
            false,
            abi.encodeWithSelector(
                IPrescriptions.Prescriptions__TooEarly.selector,
                rxId,
                START + t.minFillInterval,
                block.timestamp
            )
        );
        vm.warp(START + t.minFillInterval);
        _dispense(rxId, 30);
    }

    // ---------------------------------------------------------------- [start, end) boundaries

    /// @dev Before: dispensable at `validUntil` itself, while consent and credentials end at their expiry.
    function test_RevertWhen_DispenseAtValidUntil() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = _issue(t);
        vm.warp(t.validUntil);
        _expectDispenseRevert(pharmacy, rxId, 1, false, _expired(rxId, t.validUntil));
    }

    function test_RevertWhen_ChangePharmacyAtValidUntil() public {
        IPrescriptions.RxTerms memory t = _terms();
        bytes32 rxId = _issue(t);
        vm.warp(t.validUntil);
        vm.expectRevert(_expired(rxId, t.validUntil));
        vm.prank(patient);
        rx.changePharmacy(t, pharmacy);
    }

    function test_Boundaries_AllFourContractsEndAtTheirTimestamp() public {
        IPrescriptions.RxTerms memory t = _terms();
        t.validUntil = uint32(block.timestamp + 10 days);
        bytes32 rxId = _issue(t);
        uint40 consentEnd = uint40(block.timestamp + 10 days);
        vm.prank(patient);
        consent.grant(nurse, WRITE, consentEnd);
        vm.prank(patient);
        uint64 episode = anchors.openEpisode(patient);
        vm.warp(consentEnd - 1);
        _dispense(rxId, 1); // Prescriptions: the last second is inside
        vm.prank(nurse);
        anchors.anchorRecord(episode, keccak256("record"), bytes32(0)); // ConsentRegistry + RecordAnchors
        vm.warp(consentEnd);
        vm.assertFalse(consent.hasScope(patient, nurse, WRITE));
        _expectDispenseRevert(pharmacy, rxId, 1, false, _expired(rxId, t.validUntil));
        vm.warp(credentials.credentialOf(pharmacy).expiresAt - 1);
        vm.assertTrue(credentials.isActive(pharmacy, ICredentialRegistry.Kind.Pharmacy)); // CredentialRegistry
        vm.warp(credentials.credentialOf(pharmacy).expiresAt);
        vm.assertFalse(credentials.isActive(pharmacy, ICredentialRegistry.Kind.Pharmacy));
    }
}
