// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IPrescriptions} from "../../src/interfaces/IPrescriptions.sol";
import {Fixture} from "../utils/Fixture.sol";

/// @notice Symbolic tests (halmos, `scripts/halmos`): each `check_` holds for every value of its parameters,
///         not for sampled ones. Halmos reports a counterexample when an `assert` can fail. Calls under test
///         are made with `call` so that both the success and the revert branch are explored.
contract PrescriptionsSymbolicTest is Fixture {
    /// @dev Storage slot of `Prescriptions._rxs` (`forge inspect Prescriptions storageLayout`); the first test
    ///      below checks the packing against `prescriptionOf`, so a layout change fails loudly.
    uint256 internal constant RXS_SLOT = 2;

    function _pack(IPrescriptions.Rx memory s) internal pure returns (bytes32) {
        return bytes32(
            uint256(s.prescriberId) | uint256(s.pharmacyId) << 32 | uint256(s.fills) << 64
                | uint256(s.fillsUsed) << 72 | uint256(s.schedule) << 80 | uint256(s.flags) << 88
                | uint256(s.quantityPerFill) << 96 | uint256(s.openFillDispensed) << 128
                | uint256(s.nextFillAt) << 160 | uint256(s.validUntil) << 192 | uint256(s.minFillInterval)
                << 224
        );
    }

    /// @dev The per-prescription invariant that bounds what was dispensed: fills used within the fills, the open
    ///      fill within one fill's quantity, and an open fill exactly when a fill was used.
    function _consistent(IPrescriptions.Rx memory s) internal pure returns (bool) {
        return s.fills != 0 && s.quantityPerFill != 0 && s.fillsUsed <= s.fills
            && s.openFillDispensed <= s.quantityPerFill && (s.fillsUsed == 0) == (s.openFillDispensed == 0);
    }

    /// @dev One fill of a schedule II prescription, valid 30 days, designated to `pharmacy`.
    function _scheduleIITerms() internal view returns (IPrescriptions.RxTerms memory t) {
        t = _terms();
        t.schedule = 2;
        t.fills = 1;
        t.minFillInterval = 0;
        t.validUntil = uint32(block.timestamp + 30 days);
        t.pharmacy = pharmacy;
    }

    /// @dev Stores `state` as prescription `rxId` and checks the packing against `prescriptionOf`.
    function _store(bytes32 rxId, IPrescriptions.Rx memory state) internal {
        vm.store(address(rx), keccak256(abi.encode(rxId, RXS_SLOT)), _pack(state));
        (IPrescriptions.Rx memory stored,,) = rx.prescriptionOf(rxId);
        assert(stored.fills == state.fills && stored.fillsUsed == state.fillsUsed);
        assert(stored.quantityPerFill == state.quantityPerFill);
        assert(stored.openFillDispensed == state.openFillDispensed && stored.flags == state.flags);
        assert(stored.nextFillAt == state.nextFillAt && stored.validUntil == state.validUntil);
    }

    /// @notice No dispense beyond the authorised total (induction step): from ANY consistent state
    ///         (every field symbolic, at any time, any quantity), one dispense keeps the state consistent, never
    ///         changes the fills or the quantity per fill, and either adds exactly `quantity` to the open fill /
    ///         opens a new fill with it, or (revert) changes nothing. `issue` starts consistent (below), so
    ///         every reachable prescription is consistent, whatever the sequence of dispenses. In a consistent
    ///         state the total, (fillsUsed - 1) × quantityPerFill + openFillDispensed, is at most
    ///         fillsUsed × quantityPerFill ≤ fills × quantityPerFill: that last step is arithmetic on 256-bit
    ///         products, on which the SMT solvers time out, so it is argued here rather than checked.
    function check_Dispense_KeepsFillAccounting(
        bytes32 rxId,
        IPrescriptions.Rx memory state,
        uint32 quantity,
        uint256 dispensedBefore,
        uint40 time
    ) public {
        state.prescriberId = credentials.idOf(prescriber);
        vm.assume(state.pharmacyId == 0 || state.pharmacyId == credentials.idOf(pharmacy));
        vm.assume(_consistent(state));
        _store(rxId, state);

        vm.warp(time);
        vm.prank(pharmacy);
        (bool ok,) = address(rx)
            .call(abi.encodeCall(rx.dispense, (rxId, quantity, dispensedBefore, false, bytes32(0))));

        (IPrescriptions.Rx memory next,,) = rx.prescriptionOf(rxId);
        assert(_consistent(next));
        assert(next.fills == state.fills && next.quantityPerFill == state.quantityPerFill);
        if (!ok) {
            assert(next.fillsUsed == state.fillsUsed && next.openFillDispensed == state.openFillDispensed);
        } else if (next.fillsUsed == state.fillsUsed) {
            // Completed part of the open fill.
            assert(uint256(next.openFillDispensed) == uint256(state.openFillDispensed) + quantity);
        } else {
            // Opened a new fill: only once the previous one was complete.
            assert(next.fillsUsed == state.fillsUsed + 1 && next.openFillDispensed == quantity);
            assert(state.fillsUsed == 0 || state.openFillDispensed == state.quantityPerFill);
        }
    }

    /// @notice `issue` establishes the invariant: for all terms, a prescription that issues starts with nothing
    ///         dispensed and fills × quantity authorised.
    function check_Issue_StartsConsistent(IPrescriptions.RxTerms memory terms) public {
        terms.prescriber = prescriber;
        terms.pharmacy = address(0);
        vm.prank(prescriber);
        (bool ok, bytes memory result) = address(rx).call(abi.encodeCall(rx.issue, (terms)));
        if (ok) {
            bytes32 rxId = abi.decode(result, (bytes32));
            (IPrescriptions.Rx memory state, uint256 total, uint256 authorized) = rx.prescriptionOf(rxId);
            assert(_consistent(state));
            assert(total == 0);
            assert(authorized == uint256(terms.fills) * terms.quantityPerFill);
        }
    }

    /// @notice A suspended, revoked or expired prescriber never issues, whatever the terms and the time.
    function check_Issue_NeverByInactivePrescriber(
        IPrescriptions.RxTerms memory terms,
        uint8 action,
        uint40 time
    ) public {
        vm.assume(time >= block.timestamp);
        vm.startPrank(registrar);
        if (action == 1) credentials.suspend(prescriber, 1);
        else if (action == 2) credentials.revoke(prescriber, 1);
        vm.stopPrank();
        vm.warp(time);
        terms.prescriber = prescriber;
        terms.pharmacy = address(0);
        vm.prank(prescriber);
        (bool ok,) = address(rx).call(abi.encodeCall(rx.issue, (terms)));
        assert(!ok || (action != 1 && action != 2 && time < credentials.credentialOf(prescriber).expiresAt));
    }

    /// @notice A suspended, revoked or expired pharmacy never dispenses, whatever the quantity and the time.
    function check_Dispense_NeverByInactivePharmacy(uint32 quantity, uint8 action, uint40 time) public {
        vm.assume(time >= block.timestamp);
        bytes32 rxId = _issue(_terms());
        vm.startPrank(registrar);
        if (action == 1) credentials.suspend(pharmacy, 1);
        else if (action == 2) credentials.revoke(pharmacy, 1);
        vm.stopPrank();
        vm.warp(time);
        vm.prank(pharmacy);
        (bool ok,) = address(rx).call(abi.encodeCall(rx.dispense, (rxId, quantity, 0, false, bytes32(0))));
        assert(!ok || (action != 1 && action != 2 && time < credentials.credentialOf(pharmacy).expiresAt));
    }

    /// @notice A revoked or expired consent never admits a prescription, whatever the terms and the time: a
    ///         prescriber issues only while holding the patient's PRESCRIBE consent.
    function check_Issue_NeverWithoutConsent(
        IPrescriptions.RxTerms memory terms,
        uint8 scopes,
        uint40 expiresAt,
        bool revoked,
        uint40 time
    ) public {
        vm.assume(time >= block.timestamp);
        vm.prank(patient);
        (bool granted,) =
            address(consent).call(abi.encodeCall(consent.grant, (prescriber, scopes, expiresAt)));
        vm.assume(granted);
        if (revoked) {
            vm.prank(patient);
            consent.revoke(prescriber);
        }
        vm.warp(time);
        terms.patient = patient;
        terms.prescriber = prescriber;
        terms.pharmacy = address(0);
        vm.prank(prescriber);
        (bool ok,) = address(rx).call(abi.encodeCall(rx.issue, (terms)));
        assert(!ok || (!revoked && time < expiresAt && scopes & PRESCRIBE != 0));
    }

    /// @notice Issue 19 point 3, the kill switch: whatever the registrar did to the prescriber after issue
    ///         (suspend, revoke, any new schedule set) and whenever the pharmacy tries, a schedule II prescription
    ///         dispenses only while its prescriber is active and still holds schedule II.
    function check_Dispense_NeverAfterPrescriberLosesStanding(
        uint8 action,
        uint8 schedules,
        uint32 quantity,
        bool shortSupply,
        uint40 time
    ) public {
        vm.assume(time >= block.timestamp);
        IPrescriptions.RxTerms memory t = _scheduleIITerms();
        bytes32 rxId = _issue(t);
        vm.startPrank(registrar);
        if (action == 1) credentials.suspend(prescriber, 1);
        else if (action == 2) credentials.revoke(prescriber, 1);
        else if (action == 3) credentials.setSchedules(prescriber, schedules & 0x3c);
        vm.stopPrank();
        vm.warp(time);
        vm.prank(pharmacy);
        (bool ok,) =
            address(rx).call(abi.encodeCall(rx.dispense, (rxId, quantity, 0, shortSupply, bytes32(0))));
        assert(!ok || (action != 1 && action != 2 && time < credentials.credentialOf(prescriber).expiresAt));
        assert(!ok || action != 3 || (schedules >> 2) & 1 == 1);
    }

    /// @notice Issue 19 point 7: a dispense that went through, sent again with the very same arguments (a client
    ///         retry), always fails: whatever the quantity, partial-fill reason and time.
    function check_Dispense_RetryNeverCountsTwice(
        uint32 quantity,
        bool shortSupply,
        uint40 time,
        bytes32 record
    ) public {
        vm.assume(time >= block.timestamp);
        bytes32 rxId = _issue(_terms());
        vm.warp(time);
        bytes memory call = abi.encodeCall(rx.dispense, (rxId, quantity, 0, shortSupply, record));
        vm.prank(pharmacy);
        (bool first,) = address(rx).call(call);
        vm.prank(pharmacy);
        (bool again,) = address(rx).call(call);
        assert(!(first && again));
    }

    /// @notice Issue 19 point 4 and 21 CFR 1306: for all terms, an issued prescription was written no later than
    ///         now, issued before its deadline, and its validity counts from the date written — six months for
    ///         schedules III–V; for schedule II, 30 (60 for long-term care) days from the later of the date
    ///         written and the earliest fill date, with its supply ending within 90 days of the date written.
    function check_Issue_LimitsCountFromDateWritten(IPrescriptions.RxTerms memory terms) public {
        terms.prescriber = prescriber;
        terms.patient = patient;
        terms.pharmacy = pharmacy;
        vm.prank(prescriber);
        (bool ok,) = address(rx).call(abi.encodeCall(rx.issue, (terms)));
        if (!ok) return;
        assert(terms.dateWritten <= block.timestamp && block.timestamp < terms.deadline);
        uint8 schedule = terms.schedule;
        if (schedule >= 3) assert(uint256(terms.validUntil) <= uint256(terms.dateWritten) + 180 days);
        if (schedule == 2) {
            uint256 start =
                terms.earliestFillAt > terms.dateWritten ? terms.earliestFillAt : terms.dateWritten;
            assert(uint256(terms.validUntil) <= start + (terms.longTermCare ? 60 days : 30 days));
            assert(
                uint256(terms.earliestFillAt) + uint256(terms.daysSupply) * 1 days
                    <= uint256(terms.dateWritten) + 90 days
            );
        }
        assert(!terms.longTermCare || schedule == 2);
    }

    /// @notice Issue 19, pharmacy registration (21 CFR 1301.13): whatever schedules the registrar leaves the
    ///         pharmacy, and whenever it tries, it dispenses a schedule II prescription only while its own
    ///         registration covers schedule II.
    function check_Dispense_NeverByPharmacyLackingSchedule(uint8 schedules, uint32 quantity, uint40 time)
        public
    {
        vm.assume(time >= block.timestamp);
        IPrescriptions.RxTerms memory t = _scheduleIITerms();
        bytes32 rxId = _issue(t);
        vm.prank(registrar);
        credentials.setSchedules(pharmacy, schedules & 0x3c);
        vm.warp(time);
        vm.prank(pharmacy);
        (bool ok,) = address(rx).call(abi.encodeCall(rx.dispense, (rxId, quantity, 0, false, bytes32(0))));
        assert(!ok || (schedules >> 2) & 1 == 1);
    }

    /// @notice 21 CFR 1306.13(a): after a schedule II partial fill because the pharmacy is short, the balance
    ///         goes out within 72 hours or not at all — for every first quantity, balance quantity and times.
    function check_ShortSupply_BalanceOnlyWithin72Hours(uint32 first, uint32 balance, uint40 t1, uint40 t2)
        public
    {
        vm.assume(t1 >= block.timestamp && t2 >= t1);
        IPrescriptions.RxTerms memory t = _scheduleIITerms();
        bytes32 rxId = _issue(t);
        vm.warp(t1);
        vm.prank(pharmacy);
        (bool ok,) = address(rx).call(abi.encodeCall(rx.dispense, (rxId, first, 0, true, bytes32(0))));
        if (!ok) return;
        vm.warp(t2);
        vm.prank(pharmacy);
        (ok,) =
            address(rx).call(abi.encodeCall(rx.dispense, (rxId, balance, uint256(first), false, bytes32(0))));
        assert(!ok || uint256(t2) < uint256(t1) + 72 hours);
    }

    /// @notice 21 CFR 1306.08(e), 1306.25(a): a controlled-substance prescription moves between pharmacies once:
    ///         whenever the patient tries, a move there and a move back never both succeed.
    function check_Transfer_ControlledOnlyOnce(uint40 t1, uint40 t2) public {
        vm.assume(t1 >= block.timestamp && t2 >= t1);
        IPrescriptions.RxTerms memory t = _terms();
        t.schedule = 3;
        t.fills = 2;
        t.pharmacy = pharmacy;
        _issue(t);
        vm.warp(t1);
        vm.prank(patient);
        (bool there,) = address(rx).call(abi.encodeCall(rx.changePharmacy, (t, pharmacy2)));
        vm.warp(t2);
        vm.prank(patient);
        (bool back,) = address(rx).call(abi.encodeCall(rx.changePharmacy, (t, pharmacy)));
        assert(!(there && back));
    }

    /// @notice Issue 19, schedule III/IV refills: for every days' supply and interval the prescriber writes,
    ///         the second fill of an issued prescription never starts sooner than 3/4 of the days' supply after
    ///         the first.
    function check_Refill_NeverSoonerThanThreeQuartersOfSupply(
        uint16 daysSupply,
        uint32 minFillInterval,
        uint40 time
    ) public {
        IPrescriptions.RxTerms memory t = _terms();
        t.schedule = 4;
        t.fills = 2;
        t.daysSupply = daysSupply;
        t.minFillInterval = minFillInterval;
        t.validUntil = uint32(block.timestamp + 180 days);
        t.pharmacy = pharmacy;
        vm.prank(prescriber);
        (bool ok, bytes memory out) = address(rx).call(abi.encodeCall(rx.issue, (t)));
        if (!ok) return;
        bytes32 rxId = abi.decode(out, (bytes32));
        uint256 start = block.timestamp;
        vm.prank(pharmacy);
        (ok,) = address(rx).call(abi.encodeCall(rx.dispense, (rxId, t.quantityPerFill, 0, false, bytes32(0))));
        if (!ok) return;
        vm.assume(time >= start);
        vm.warp(time);
        vm.prank(pharmacy);
        (ok,) = address(rx)
            .call(abi.encodeCall(rx.dispense, (rxId, 1, uint256(t.quantityPerFill), false, bytes32(0))));
        assert(!ok || uint256(time) >= start + uint256(daysSupply) * 1 days * 3 / 4);
    }
}
