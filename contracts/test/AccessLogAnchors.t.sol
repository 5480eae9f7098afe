// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessLogAnchors} from "../src/AccessLogAnchors.sol";
import {IAccessLogAnchors} from "../src/interfaces/IAccessLogAnchors.sol";
import {Test} from "./utils/Test.sol";

contract AccessLogAnchorsTest is Test {
    bytes32 internal constant HEAD_1 = keccak256("entry 10");
    bytes32 internal constant HEAD_2 = keccak256("entry 25");

    AccessLogAnchors internal logs;
    address internal operator;
    address internal other;

    function setUp() public {
        vm.warp(1_750_000_000);
        vm.roll(100);
        logs = new AccessLogAnchors();
        operator = makeAddr("operator");
        other = makeAddr("other");
    }

    function _anchor(address who, uint64 entries, bytes32 head) internal returns (uint256) {
        vm.prank(who);
        return logs.anchorLog(entries, head);
    }

    // ---------------------------------------------------------------- anchorLog

    function test_AnchorLog_FirstAndNext() public {
        vm.expectEmit(address(logs));
        emit IAccessLogAnchors.LogAnchored(operator, 0, 10, HEAD_1);
        vm.assertEq(_anchor(operator, 10, HEAD_1), 0);
        vm.warp(1_750_003_600);
        vm.roll(400);
        vm.expectEmit(address(logs));
        emit IAccessLogAnchors.LogAnchored(operator, 1, 25, HEAD_2);
        vm.assertEq(_anchor(operator, 25, HEAD_2), 1);

        vm.assertEq(logs.anchorCount(operator), 2);
        IAccessLogAnchors.Anchor memory first = logs.anchorAt(operator, 0);
        vm.assertEq(first.entries, 10);
        vm.assertEq(first.head, HEAD_1);
        vm.assertEq(first.anchoredAt, 1_750_000_000);
        vm.assertEq(first.blockNumber, 100);
        IAccessLogAnchors.Anchor memory latest = logs.latestAnchor(operator);
        vm.assertEq(latest.entries, 25);
        vm.assertEq(latest.head, HEAD_2);
        vm.assertEq(latest.anchoredAt, 1_750_003_600);
        vm.assertEq(latest.blockNumber, 400);
    }

    function test_AnchorLog_OperatorsAreSeparate() public {
        _anchor(operator, 10, HEAD_1);
        // Another operator starts its own sequence, even with a smaller count.
        vm.assertEq(_anchor(other, 3, HEAD_2), 0);
        vm.assertEq(logs.anchorCount(operator), 1);
        vm.assertEq(logs.anchorCount(other), 1);
        vm.assertEq(logs.latestAnchor(operator).head, HEAD_1);
        vm.assertEq(logs.latestAnchor(other).entries, 3);
    }

    function test_RevertWhen_AnchorLogZeroHead() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessLogAnchors.AccessLogAnchors__ZeroHead.selector, operator, uint64(10)
            )
        );
        _anchor(operator, 10, bytes32(0));
    }

    function test_RevertWhen_AnchorLogZeroEntries() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessLogAnchors.AccessLogAnchors__NoProgress.selector, operator, uint64(0), uint64(0)
            )
        );
        _anchor(operator, 0, HEAD_1);
    }

    function test_RevertWhen_AnchorLogDoesNotGrow() public {
        _anchor(operator, 10, HEAD_1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessLogAnchors.AccessLogAnchors__NoProgress.selector, operator, uint64(10), uint64(10)
            )
        );
        _anchor(operator, 10, HEAD_2);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessLogAnchors.AccessLogAnchors__NoProgress.selector, operator, uint64(9), uint64(10)
            )
        );
        _anchor(operator, 9, HEAD_2);
    }

    function testFuzz_AnchorLog_CountsOnlyGrow(uint64 a, uint64 b) public {
        a = uint64(bound(a, 1, type(uint64).max - 1));
        _anchor(operator, a, HEAD_1);
        if (b <= a) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IAccessLogAnchors.AccessLogAnchors__NoProgress.selector, operator, b, a
                )
            );
            _anchor(operator, b, HEAD_2);
            vm.assertEq(logs.anchorCount(operator), 1);
        } else {
            vm.assertEq(_anchor(operator, b, HEAD_2), 1);
            vm.assertEq(logs.latestAnchor(operator).entries, b);
        }
    }

    // ---------------------------------------------------------------- views

    function test_LatestAnchor_NoneIsZero() public view {
        IAccessLogAnchors.Anchor memory none = logs.latestAnchor(operator);
        vm.assertEq(none.entries, 0);
        vm.assertEq(none.head, bytes32(0));
        vm.assertEq(logs.anchorCount(operator), 0);
    }

    function test_RevertWhen_AnchorAtUnknown() public {
        _anchor(operator, 10, HEAD_1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessLogAnchors.AccessLogAnchors__UnknownAnchor.selector, operator, uint256(1), uint256(1)
            )
        );
        logs.anchorAt(operator, 1);
    }
}
