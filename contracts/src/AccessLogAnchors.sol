// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessLogAnchors} from "./interfaces/IAccessLogAnchors.sol";

/// @title AccessLogAnchors
/// @notice Record vaults' operators anchor the heads of their hash-chained access logs here, so that no
///         operator can quietly rewrite who read what once a head covering it is anchored.
/// @dev Permissionless: the anchors are keyed by the caller, and a verifier checks the anchors of the
///      operator address the vault publishes. Each anchor appends two storage slots; nothing is ever
///      overwritten or deleted.
contract AccessLogAnchors is IAccessLogAnchors {
    mapping(address operator => Anchor[]) internal _anchors;

    /// @inheritdoc IAccessLogAnchors
    function anchorLog(uint64 entries, bytes32 head) external returns (uint256 index) {
        if (head == bytes32(0)) revert AccessLogAnchors__ZeroHead(msg.sender, entries);
        index = _anchors[msg.sender].length;
        uint64 latest = index == 0 ? 0 : _anchors[msg.sender][index - 1].entries;
        if (entries <= latest) revert AccessLogAnchors__NoProgress(msg.sender, entries, latest);
        _anchors[msg.sender].push(
            Anchor({
                entries: entries,
                anchoredAt: uint40(block.timestamp),
                blockNumber: uint64(block.number),
                head: head
            })
        );
        emit LogAnchored(msg.sender, index, entries, head);
    }

    /// @inheritdoc IAccessLogAnchors
    function anchorCount(address operator) external view returns (uint256 count) {
        return _anchors[operator].length;
    }

    /// @inheritdoc IAccessLogAnchors
    function anchorAt(address operator, uint256 index) external view returns (Anchor memory anchor) {
        Anchor[] storage anchors = _anchors[operator];
        if (index >= anchors.length) revert AccessLogAnchors__UnknownAnchor(operator, index, anchors.length);
        return anchors[index];
    }

    /// @inheritdoc IAccessLogAnchors
    function latestAnchor(address operator) external view returns (Anchor memory anchor) {
        Anchor[] storage anchors = _anchors[operator];
        if (anchors.length != 0) anchor = anchors[anchors.length - 1];
    }
}
