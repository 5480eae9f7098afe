// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {RecordAnchors} from "../../src/RecordAnchors.sol";
import {IConsentRegistry} from "../../src/interfaces/IConsentRegistry.sol";
import {IRecordAnchors} from "../../src/interfaces/IRecordAnchors.sol";
import {HostileRegistry} from "../mocks/HostileContracts.sol";
import {Fixture} from "../utils/Fixture.sol";

/// @notice Attacks on record anchors: re-entrancy through the consent query, and hash-chain forgery by a writer
///         who lost WRITE_RECORDS.
contract RecordAnchorsAdversarialTest is Fixture {
    /// @dev `anchorRecord` asks the consent registry (a view interface, so STATICCALL); a hostile registry
    ///      re-entering `anchorRecord` cannot add a record or fork the hash chain.
    function test_HostileConsent_CannotReenterAnchorRecord() public {
        HostileRegistry hostile = new HostileRegistry();
        RecordAnchors victim = new RecordAnchors(IConsentRegistry(address(hostile)));
        vm.prank(patient);
        uint64 episodeId = victim.openEpisode(patient);
        hostile.arm(
            address(victim), abi.encodeCall(victim.anchorRecord, (episodeId, keccak256("forged"), bytes32(0)))
        );
        vm.prank(nurse);
        (uint32 index, bytes32 head) = victim.anchorRecord(episodeId, keccak256("real"), bytes32(0));
        vm.assertEq(index, 0);
        vm.assertEq(victim.episodeOf(episodeId).recordCount, 1, "re-entered anchor landed");
        vm.assertEq(victim.headOf(episodeId), head);
        hostile.fire();
        vm.assertEq(victim.episodeOf(episodeId).recordCount, 2);
    }

    /// @dev A writer whose WRITE_RECORDS was revoked cannot append to, close, or hide records of an episode it
    ///      opened.
    function test_RevertWhen_FormerWriterTampersWithEpisode() public {
        vm.prank(prescriber);
        uint64 episodeId = anchors.openEpisode(patient);
        vm.prank(prescriber);
        anchors.anchorRecord(episodeId, keccak256("r0"), bytes32(0));
        vm.prank(patient);
        consent.revoke(prescriber);

        vm.startPrank(prescriber);
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchors.RecordAnchors__NotAuthorized.selector, prescriber, patient)
        );
        anchors.anchorRecord(episodeId, keccak256("r1"), bytes32(0));
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchors.RecordAnchors__NotAuthorized.selector, prescriber, patient)
        );
        anchors.closeEpisode(episodeId);
        vm.expectRevert(
            abi.encodeWithSelector(IRecordAnchors.RecordAnchors__NotPatient.selector, prescriber, patient)
        );
        anchors.setRecordHidden(episodeId, 0, true);
        vm.stopPrank();
        vm.assertEq(anchors.episodeOf(episodeId).recordCount, 1);
    }
}
