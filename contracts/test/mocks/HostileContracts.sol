// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";

/// @notice Calls `target` with `payload` on demand; the base of every hostile mock below.
abstract contract Reenterer {
    /// @dev Gas given to every re-entry attempt, in both contexts: enough for any medledger call, and a failed
    ///      attempt (a state change under STATICCALL burns all it was given) stays cheap.
    uint256 internal constant REENTRY_GAS = 1_000_000;

    address public target;
    bytes public payload;
    bool internal _firing;

    /// @notice Sets the call made back into medledger while this contract is being called.
    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
    }

    /// @notice Makes the armed call in an ordinary (non-static) context and requires it to succeed: shows that
    ///         the payload is a valid call, so its failure inside a callback is due to the static context. The
    ///         callbacks the fired call triggers do not re-enter again.
    function fire() external {
        _firing = true;
        (bool ok, bytes memory result) = target.call{gas: REENTRY_GAS}(payload);
        _firing = false;
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
    }

    /// @dev Attempts the armed call and swallows its failure, so that the outer call goes on either way.
    function _reenter() internal returns (bool ok) {
        if (target == address(0) || _firing) return false;
        (ok,) = target.call{gas: REENTRY_GAS}(payload);
    }
}

/// @notice An ERC-1271 wallet that tries to call back into medledger from `isValidSignature` (a state-changing
///         call, e.g. a second grant) and then approves the signature whatever happened.
contract ReentrantERC1271Wallet is Reenterer {
    /// @dev Declared non-view on purpose: the selector is the same, and callers reach it with STATICCALL.
    function isValidSignature(bytes32, bytes calldata) external returns (bytes4) {
        _reenter();
        return IERC1271.isValidSignature.selector;
    }
}

/// @notice An ERC-1271 wallet that burns all the gas it is given.
contract GasBurningERC1271Wallet is IERC1271 {
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4 magic) {
        while (true) {}
    }
}

/// @notice An ERC-1271 wallet that answers with a huge return buffer (a "return bomb") that starts with the
///         magic value.
contract ReturnBombERC1271Wallet {
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        assembly ("memory-safe") {
            mstore(0, 0x1626ba7e00000000000000000000000000000000000000000000000000000000)
            return(0, 100000)
        }
    }
}

/// @notice A wallet that approves every signature: whoever controls it is whoever can call medledger for it.
contract YesERC1271Wallet is IERC1271 {
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        return IERC1271.isValidSignature.selector;
    }
}

/// @notice Stands in for the CredentialRegistry and the ConsentRegistry the other contracts call: answers every
///         query permissively, and tries to re-enter medledger from inside each query.
/// @dev Its functions are non-view: the callers' interfaces declare them view, so Solidity calls them with
///      STATICCALL and any state change in the re-entered call fails.
contract HostileRegistry is Reenterer {
    function prescriberAuthority(address) external returns (uint32 id, uint8 schedules) {
        _reenter();
        return (1, 0x3c);
    }

    function activePharmacyId(address) external returns (uint32 id) {
        _reenter();
        return 2;
    }

    function idOf(address) external returns (uint32 id) {
        _reenter();
        return 1;
    }

    function accountOf(uint32) external returns (address account) {
        _reenter();
        return address(this);
    }

    function hasScope(address, address, uint8) external returns (bool) {
        _reenter();
        return true;
    }

    function dispenseAuthority(address, uint32) external returns (uint32, uint8, address, bool, uint8) {
        _reenter();
        return (2, 0x3c, address(this), true, 0x3c);
    }

    function isRegistrar(address) external returns (bool) {
        _reenter();
        return true;
    }

    function isReviewer(address) external returns (bool) {
        _reenter();
        return true;
    }

    function isActive(address, uint8) external returns (bool) {
        _reenter();
        return true;
    }
}
