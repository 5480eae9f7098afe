// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IAccessLogAnchors
/// @notice Heads of record vaults' hash-chained access logs, anchored by each vault's operator.
/// @dev A vault keeps an append-only log of every read, write and denial, hash-chained:
///      `entryHash_n = keccak256(entryHash_{n-1} ‖ encode(entry_n))`. Its operator periodically posts
///      `(entries, head)`: the number of entries so far and the hash of the last one. An anchor pins every
///      entry up to `entries`: rewriting, deleting or inserting any of them changes `head` (or the count),
///      which anyone holding the log can check against the chain. Each operator's anchors are kept in
///      order; the entry count must grow with each one. Only hashes are posted: no health data.
interface IAccessLogAnchors {
    /// @notice One anchored head, two storage slots.
    /// @param entries How many log entries the head covers (entries 1..entries).
    /// @param anchoredAt The block timestamp of the anchoring transaction.
    /// @param blockNumber The block of the anchoring transaction.
    /// @param head The hash of entry `entries`.
    struct Anchor {
        uint64 entries;
        uint40 anchoredAt;
        uint64 blockNumber;
        bytes32 head;
    }

    /// @notice An operator anchored its log's head.
    /// @param operator The vault operator (the caller).
    /// @param index The anchor's position among the operator's anchors, from 0.
    /// @param entries How many entries the head covers.
    /// @param head The hash of entry `entries`.
    event LogAnchored(address indexed operator, uint256 indexed index, uint64 entries, bytes32 head);

    /// @notice The head is zero (no entry hashes to zero).
    error AccessLogAnchors__ZeroHead(address operator, uint64 entries);
    /// @notice The entry count does not exceed the operator's latest anchor's.
    error AccessLogAnchors__NoProgress(address operator, uint64 entries, uint64 latestEntries);
    /// @notice The operator has no anchor at this index.
    error AccessLogAnchors__UnknownAnchor(address operator, uint256 index, uint256 count);

    /// @notice Anchors the caller's log head. Caller: the vault operator.
    /// @param entries How many entries `head` covers; more than the caller's latest anchor's.
    /// @param head The hash of entry `entries` (non-zero).
    /// @return index The anchor's position among the caller's anchors.
    function anchorLog(uint64 entries, bytes32 head) external returns (uint256 index);

    /// @notice How many anchors `operator` has posted.
    /// @param operator The vault operator.
    /// @return count The number of anchors.
    function anchorCount(address operator) external view returns (uint256 count);

    /// @notice One of `operator`'s anchors. Reverts with `AccessLogAnchors__UnknownAnchor` past the last.
    /// @param operator The vault operator.
    /// @param index Its position, from 0.
    /// @return anchor The anchor.
    function anchorAt(address operator, uint256 index) external view returns (Anchor memory anchor);

    /// @notice `operator`'s latest anchor (all zero when it has none).
    /// @param operator The vault operator.
    /// @return anchor The latest anchor.
    function latestAnchor(address operator) external view returns (Anchor memory anchor);
}
