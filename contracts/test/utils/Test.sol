// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "./Vm.sol";

/// @notice Minimal test base: the cheatcode handle and forge-std-compatible `bound`.
abstract contract Test {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    /// @dev Maps `x` into [min, max], keeping values already inside unchanged (same algorithm as forge-std, so
    ///      the fuzzer's edge-case dictionary values land on the bounds).
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256 result) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min + 1;
        if (x <= 3 && size > x) return min + x;
        if (x >= type(uint256).max - 3 && size > type(uint256).max - x) return max - (type(uint256).max - x);
        if (x > max) {
            uint256 rem = (x - max) % size;
            if (rem == 0) return max;
            result = min + rem - 1;
        } else {
            uint256 rem = (min - x) % size;
            if (rem == 0) return min;
            result = max - rem + 1;
        }
    }

    /// @dev A labelled account with a known private key.
    function makeAccount(string memory name) internal returns (address account, uint256 key) {
        key = uint256(keccak256(bytes(name)));
        account = vm.addr(key);
        vm.label(account, name);
    }

    /// @dev A labelled account.
    function makeAddr(string memory name) internal returns (address account) {
        (account,) = makeAccount(name);
    }

    /// @dev 65-byte r‖s‖v signature of `digest` by `key`.
    function signDigest(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }
}
