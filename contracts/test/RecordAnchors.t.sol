// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IRecordAnchors} from "../src/interfaces/IRecordAnchors.sol";
import {Fixture} from "./utils/Fixture.sol";

contract RecordAnchorsTest is Fixture {
    bytes32 internal constant CONTENT = keccak256("record content, salted");
    bytes32 internal constant POINTER = keccak256("ipfs pointer, salted");

    function setUp() public override {
        super.setUp();
        vm.prank(patient);
        consent.grant(nurse, READ | WRITE, _inDays(30));
    }

    function _open() internal returns (uint64) {
        vm.prank(patient);
        return anchors.openEpisode(patient);
    }

    // ---------------------------------------------------------------- openEpisode

    function test_OpenEpisode_ByPatient() public {
        vm.expectEmit(address(anchors));
        emit IRecordAnchors.EpisodeOpened(1, patient, patient);
        uint64 id = _open();
        vm.assertEq(id, 1);
        IRecordAnchors.Episode memory e = anchors.episodeOf(1);
        vm.assertEq(e.patient, patient);
        vm.assertEq(e.recordCount, 0);
        vm.assertEq(e.openedAt, block.timestamp);
        vm.assertFalse(e.closed);
        vm.assertEq(anchors.episodeCount(), 1);
        vm.assertEq(anchors.headOf(1), bytes32(0));
    }

    function test_OpenEpisode_ByWriteGrantee() public {
        vm.expectEmit(address(anchors));
        emit IRecordAnchors.EpisodeOpened(1, patient, nurse);
        vm.prank(nurse);
        anchors.openEpisode(patient);
        vm.prank(nurse);
        vm.assertEq(anchors.openEpisode(patient), 2);
    }

    function test_RevertWhen_OpenEpisodeZeroPatient() public {
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchors.RecordAnchors__ZeroPatient.selector));
        anchors.openEpisode(address(0));
    }

    function test_RevertWhen_OpenEpisodeReadOnlyGrantee() public {
        vm.prank(patient);
        consent.grant(stranger, READ, _inDays(30));
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchors.RecordAnchors__NotAuthorized.selector, stranger, patient)
        );
        vm.prank(stranger);
        anchors.openEpisode(patient);
    }

    function test_RevertWhen_OpenEpisodeEmergencyAccessOnly() public {
        vm.prank(prescriber2);
        consent.openEmergencyAccess(patient, 1, JUSTIFICATION, 1 hours);
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchors.RecordAnchors__NotAuthorized.selector, prescriber2, patient)
        );
        vm.prank(prescriber2);
        anchors.openEpisode(patient);
    }

    // ---------------------------------------------------------------- anchorRecord

    function test_AnchorRecord_ChainsHeads() public {
        uint64 id = _open();
        bytes32 head0 = keccak256(abi.encode(bytes32(0), uint32(0), CONTENT, POINTER));
        vm.expectEmit(address(anchors));
        emit IRecordAnchors.RecordAnchored(id, patient, nurse, 0, CONTENT, POINTER, head0);
        vm.prank(nurse);
        (uint32 index, bytes32 head) = anchors.anchorRecord(id, CONTENT, POINTER);
        vm.assertEq(index, 0);
        vm.assertEq(head, head0);

        bytes32 head1 = keccak256(abi.encode(head0, uint32(1), keccak256("second"), bytes32(0)));
        vm.expectEmit(address(anchors));
        emit IRecordAnchors.RecordAnchored(id, patient, patient, 1, keccak256("second"), bytes32(0), head1);
        vm.prank(patient);
        anchors.anchorRecord(id, keccak256("second"), bytes32(0));

        vm.assertEq(anchors.headOf(id), head1);
        vm.assertEq(anchors.episodeOf(id).recordCount, 2);
    }

    function testFuzz_AnchorRecord_HeadIsRecomputableFromEvents(uint256 count, bytes32 seed) public {
        count = bound(count, 1, 20);
        uint64 id = _open();
        bytes32 expected;
        for (uint256 i; i < count; ++i) {
            bytes32 content = keccak256(abi.encode(seed, i));
            bytes32 pointer = keccak256(abi.encode(content));
            expected = keccak256(abi.encode(expected, uint32(i), content, pointer));
            vm.prank(nurse);
            anchors.anchorRecord(id, content, pointer);
        }
        vm.assertEq(anchors.headOf(id), expected);
        vm.assertEq(anchors.episodeOf(id).recordCount, count);
    }

    function test_RevertWhen_AnchorRecordUnknownEpisode() public {
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchors.RecordAnchors__UnknownEpisode.selector, 7));
        vm.prank(patient);
        anchors.anchorRecord(7, CONTENT, POINTER);
    }

    function test_RevertWhen_AnchorRecordEpisodeClosed() public {
        uint64 id = _open();
        vm.prank(patient);
        anchors.closeEpisode(id);
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchors.RecordAnchors__EpisodeClosed.selector, id));
        vm.prank(patient);
        anchors.anchorRecord(id, CONTENT, POINTER);
    }

    function test_RevertWhen_AnchorRecordZeroContentHash() public {
        uint64 id = _open();
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchors.RecordAnchors__ZeroContentHash.selector, id));
        vm.prank(patient);
        anchors.anchorRecord(id, bytes32(0), POINTER);
    }

    function test_RevertWhen_AnchorRecordAfterConsentRevoked() public {
        uint64 id = _open();
        vm.prank(patient);
        consent.revoke(nurse);
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchors.RecordAnchors__NotAuthorized.selector, nurse, patient)
        );
        vm.prank(nurse);
        anchors.anchorRecord(id, CONTENT, POINTER);
    }

    function test_RevertWhen_AnchorRecordAfterConsentExpired() public {
        uint64 id = _open();
        vm.warp(block.timestamp + 30 days);
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchors.RecordAnchors__NotAuthorized.selector, nurse, patient)
        );
        vm.prank(nurse);
        anchors.anchorRecord(id, CONTENT, POINTER);
    }

    // ---------------------------------------------------------------- closeEpisode

    function test_CloseEpisode_EmitsCountAndHead() public {
        uint64 id = _open();
        vm.prank(nurse);
        (, bytes32 head) = anchors.anchorRecord(id, CONTENT, POINTER);
        vm.expectEmit(address(anchors));
        emit IRecordAnchors.EpisodeClosed(id, patient, nurse, 1, head);
        vm.prank(nurse);
        anchors.closeEpisode(id);
        vm.assertTrue(anchors.episodeOf(id).closed);
    }

    function test_RevertWhen_CloseEpisodeTwice() public {
        uint64 id = _open();
        vm.startPrank(patient);
        anchors.closeEpisode(id);
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchors.RecordAnchors__EpisodeClosed.selector, id));
        anchors.closeEpisode(id);
        vm.stopPrank();
    }

    function test_RevertWhen_CloseEpisodeUnauthorized() public {
        uint64 id = _open();
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchors.RecordAnchors__NotAuthorized.selector, stranger, patient)
        );
        vm.prank(stranger);
        anchors.closeEpisode(id);
    }

    function test_RevertWhen_CloseEpisodeUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchors.RecordAnchors__UnknownEpisode.selector, 3));
        anchors.closeEpisode(3);
    }

    // ---------------------------------------------------------------- setRecordHidden

    function test_SetRecordHidden_TogglesAndKeepsRecord() public {
        uint64 id = _open();
        vm.prank(nurse);
        (, bytes32 head) = anchors.anchorRecord(id, CONTENT, POINTER);

        vm.expectEmit(address(anchors));
        emit IRecordAnchors.RecordVisibilityChanged(id, 0, patient, true);
        vm.prank(patient);
        anchors.setRecordHidden(id, 0, true);
        vm.assertTrue(anchors.isRecordHidden(id, 0));
        vm.assertEq(anchors.headOf(id), head);
        vm.assertEq(anchors.episodeOf(id).recordCount, 1);

        vm.expectEmit(address(anchors));
        emit IRecordAnchors.RecordVisibilityChanged(id, 0, patient, false);
        vm.prank(patient);
        anchors.setRecordHidden(id, 0, false);
        vm.assertFalse(anchors.isRecordHidden(id, 0));
    }

    function test_SetRecordHidden_OnClosedEpisode() public {
        uint64 id = _open();
        vm.startPrank(patient);
        anchors.anchorRecord(id, CONTENT, POINTER);
        anchors.closeEpisode(id);
        anchors.setRecordHidden(id, 0, true);
        vm.stopPrank();
        vm.assertTrue(anchors.isRecordHidden(id, 0));
    }

    function test_RevertWhen_SetRecordHiddenNotPatient() public {
        uint64 id = _open();
        vm.prank(nurse);
        anchors.anchorRecord(id, CONTENT, POINTER);
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchors.RecordAnchors__NotPatient.selector, nurse, patient)
        );
        vm.prank(nurse);
        anchors.setRecordHidden(id, 0, true);
    }

    function test_RevertWhen_SetRecordHiddenUnknownRecord() public {
        uint64 id = _open();
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchors.RecordAnchors__UnknownRecord.selector, id, 0, 0)
        );
        vm.prank(patient);
        anchors.setRecordHidden(id, 0, true);
    }

    function test_RevertWhen_SetRecordHiddenUnchanged() public {
        uint64 id = _open();
        vm.startPrank(patient);
        anchors.anchorRecord(id, CONTENT, POINTER);
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchors.RecordAnchors__VisibilityUnchanged.selector, id, 0, false)
        );
        anchors.setRecordHidden(id, 0, false);
        vm.stopPrank();
    }

    function test_RevertWhen_SetRecordHiddenUnknownEpisode() public {
        vm.expectRevert(abi.encodeWithSelector(IRecordAnchors.RecordAnchors__UnknownEpisode.selector, 9));
        vm.prank(patient);
        anchors.setRecordHidden(9, 0, true);
    }
}
