// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IConsentRegistry} from "./interfaces/IConsentRegistry.sol";
import {IRecordAnchors} from "./interfaces/IRecordAnchors.sol";

/// @title RecordAnchors
/// @notice Hash-chained anchors of off-chain medical records, grouped in episodes of care.
/// @dev Per episode: one metadata slot and one head slot, so anchoring a record rewrites two existing slots
///      and allocates none (the very first record of an episode initialises the head slot). The hidden flags
///      are the only other storage and are written only when a flag changes.
contract RecordAnchors is IRecordAnchors {
    /// @notice The consent registry consulted for WRITE_RECORDS.
    IConsentRegistry public immutable CONSENT;

    uint8 internal constant WRITE_RECORDS = 2;

    uint64 internal _lastEpisodeId;
    mapping(uint64 episodeId => Episode) internal _episodes;
    mapping(uint64 episodeId => bytes32) internal _heads;
    mapping(uint64 episodeId => mapping(uint32 index => bool)) internal _hidden;

    /// @notice Deploys the contract.
    /// @param consent The ConsentRegistry.
    constructor(IConsentRegistry consent) {
        CONSENT = consent;
    }

    /// @inheritdoc IRecordAnchors
    function openEpisode(address patient) external returns (uint64 episodeId) {
        if (patient == address(0)) revert RecordAnchors__ZeroPatient();
        _checkWriter(patient);
        episodeId = ++_lastEpisodeId;
        _episodes[episodeId] =
            Episode({patient: patient, recordCount: 0, openedAt: uint40(block.timestamp), closed: false});
        emit EpisodeOpened(episodeId, patient, msg.sender);
    }

    /// @inheritdoc IRecordAnchors
    function anchorRecord(uint64 episodeId, bytes32 contentHash, bytes32 pointerHash)
        external
        returns (uint32 index, bytes32 head)
    {
        Episode memory e = _openEpisode(episodeId);
        if (contentHash == bytes32(0)) revert RecordAnchors__ZeroContentHash(episodeId);
        _checkWriter(e.patient);
        index = e.recordCount;
        head = keccak256(abi.encode(_heads[episodeId], index, contentHash, pointerHash));
        _heads[episodeId] = head;
        _episodes[episodeId].recordCount = index + 1;
        emit RecordAnchored(episodeId, e.patient, msg.sender, index, contentHash, pointerHash, head);
    }

    /// @inheritdoc IRecordAnchors
    function closeEpisode(uint64 episodeId) external {
        Episode memory e = _openEpisode(episodeId);
        _checkWriter(e.patient);
        _episodes[episodeId].closed = true;
        emit EpisodeClosed(episodeId, e.patient, msg.sender, e.recordCount, _heads[episodeId]);
    }

    /// @inheritdoc IRecordAnchors
    function setRecordHidden(uint64 episodeId, uint32 index, bool hidden) external {
        Episode memory e = _episodes[episodeId];
        if (e.patient == address(0)) revert RecordAnchors__UnknownEpisode(episodeId);
        if (msg.sender != e.patient) revert RecordAnchors__NotPatient(msg.sender, e.patient);
        if (index >= e.recordCount) revert RecordAnchors__UnknownRecord(episodeId, index, e.recordCount);
        if (_hidden[episodeId][index] == hidden) {
            revert RecordAnchors__VisibilityUnchanged(episodeId, index, hidden);
        }
        _hidden[episodeId][index] = hidden;
        emit RecordVisibilityChanged(episodeId, index, e.patient, hidden);
    }

    /// @inheritdoc IRecordAnchors
    function episodeOf(uint64 episodeId) external view returns (Episode memory) {
        return _episodes[episodeId];
    }

    /// @inheritdoc IRecordAnchors
    function headOf(uint64 episodeId) external view returns (bytes32) {
        return _heads[episodeId];
    }

    /// @inheritdoc IRecordAnchors
    function isRecordHidden(uint64 episodeId, uint32 index) external view returns (bool) {
        return _hidden[episodeId][index];
    }

    /// @inheritdoc IRecordAnchors
    function episodeCount() external view returns (uint64) {
        return _lastEpisodeId;
    }

    /// @dev The metadata of an existing, open episode.
    function _openEpisode(uint64 episodeId) internal view returns (Episode memory e) {
        e = _episodes[episodeId];
        if (e.patient == address(0)) revert RecordAnchors__UnknownEpisode(episodeId);
        if (e.closed) revert RecordAnchors__EpisodeClosed(episodeId);
    }

    /// @dev The caller must be the patient or hold WRITE_RECORDS (one external call, skipped for the patient).
    function _checkWriter(address patient) internal view {
        if (msg.sender != patient && !CONSENT.hasScope(patient, msg.sender, WRITE_RECORDS)) {
            revert RecordAnchors__NotAuthorized(msg.sender, patient);
        }
    }
}
