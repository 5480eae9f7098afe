// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IRecordAnchors
/// @notice Tamper-evident anchors of off-chain medical records, grouped in episodes of care.
/// @dev Only hashes are anchored. Each episode keeps a hash chain
///      `head_i+1 = keccak256(abi.encode(head_i, index, contentHash, pointerHash))` from `head_0 = bytes32(0)`,
///      index from 0, so anyone can recompute it from `RecordAnchored` events. Records are never deleted; the
///      patient may only flag them hidden.
interface IRecordAnchors {
    /// @notice Episode metadata, one storage slot.
    /// @param patient The patient the episode belongs to (address(0) = no such episode).
    /// @param recordCount Number of records anchored.
    /// @param openedAt When the episode was opened.
    /// @param closed Whether the episode is closed to new records.
    struct Episode {
        address patient;
        uint32 recordCount;
        uint40 openedAt;
        bool closed;
    }

    /// @notice An episode was opened.
    event EpisodeOpened(uint64 indexed episodeId, address indexed patient, address indexed openedBy);
    /// @notice A record was anchored; `head` is the new chain head.
    event RecordAnchored(
        uint64 indexed episodeId,
        address indexed patient,
        address indexed author,
        uint32 index,
        bytes32 contentHash,
        bytes32 pointerHash,
        bytes32 head
    );
    /// @notice The patient changed a record's hidden flag.
    event RecordVisibilityChanged(
        uint64 indexed episodeId, uint32 indexed index, address indexed patient, bool hidden
    );
    /// @notice An episode was closed.
    event EpisodeClosed(
        uint64 indexed episodeId, address indexed patient, address closedBy, uint32 recordCount, bytes32 head
    );

    /// @notice The patient is the zero address.
    error RecordAnchors__ZeroPatient();
    /// @notice The caller is neither the patient nor a grantee with WRITE_RECORDS scope.
    error RecordAnchors__NotAuthorized(address caller, address patient);
    /// @notice No episode has this id.
    error RecordAnchors__UnknownEpisode(uint64 episodeId);
    /// @notice The episode is closed.
    error RecordAnchors__EpisodeClosed(uint64 episodeId);
    /// @notice A content hash must be non-zero.
    error RecordAnchors__ZeroContentHash(uint64 episodeId);
    /// @notice The caller is not the patient.
    error RecordAnchors__NotPatient(address caller, address patient);
    /// @notice No record has this index in the episode.
    error RecordAnchors__UnknownRecord(uint64 episodeId, uint32 index, uint32 recordCount);
    /// @notice The record already has this hidden flag.
    error RecordAnchors__VisibilityUnchanged(uint64 episodeId, uint32 index, bool hidden);

    /// @notice Opens an episode for `patient`. Caller: the patient or a WRITE_RECORDS grantee.
    /// @param patient The patient.
    /// @return episodeId The new episode id (sequential from 1).
    function openEpisode(address patient) external returns (uint64 episodeId);

    /// @notice Anchors a record in an open episode. Caller: the patient or a WRITE_RECORDS grantee.
    /// @param episodeId The episode.
    /// @param contentHash Salted hash of the record content (non-zero).
    /// @param pointerHash Salted hash of the record's storage pointer (may be zero).
    /// @return index The record's index in the episode.
    /// @return head The new chain head.
    function anchorRecord(uint64 episodeId, bytes32 contentHash, bytes32 pointerHash)
        external
        returns (uint32 index, bytes32 head);

    /// @notice Closes an open episode. Caller: the patient or a WRITE_RECORDS grantee.
    /// @param episodeId The episode.
    function closeEpisode(uint64 episodeId) external;

    /// @notice Sets a record's hidden flag. Patient only; records are never deleted.
    /// @param episodeId The episode.
    /// @param index The record index.
    /// @param hidden The new flag; must differ from the current one.
    function setRecordHidden(uint64 episodeId, uint32 index, bool hidden) external;

    /// @notice Episode metadata (all zero if unknown).
    /// @param episodeId The episode.
    /// @return The metadata.
    function episodeOf(uint64 episodeId) external view returns (Episode memory);

    /// @notice The current chain head of an episode.
    /// @param episodeId The episode.
    /// @return The head (zero before the first record).
    function headOf(uint64 episodeId) external view returns (bytes32);

    /// @notice Whether a record is flagged hidden.
    /// @param episodeId The episode.
    /// @param index The record index.
    /// @return The flag.
    function isRecordHidden(uint64 episodeId, uint32 index) external view returns (bool);

    /// @notice The number of episodes ever opened (the last id assigned).
    /// @return The count.
    function episodeCount() external view returns (uint64);
}
