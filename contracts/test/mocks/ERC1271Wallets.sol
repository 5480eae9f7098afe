// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice A smart-contract wallet (ERC-1271) owned by one EOA: it validates its owner's ECDSA signatures and
///         forwards the owner's calls, so it can act as a patient or prescriber.
contract MockERC1271Wallet is IERC1271 {
    address public immutable OWNER;

    constructor(address owner) {
        OWNER = owner;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == OWNER
            ? IERC1271.isValidSignature.selector
            : bytes4(0);
    }

    function execute(address target, bytes calldata data) external returns (bytes memory result) {
        require(msg.sender == OWNER, "not owner");
        bool ok;
        (ok, result) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
    }
}

/// @notice A wallet that answers every query with a wrong magic value.
contract BadMagicERC1271Wallet is IERC1271 {
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        return 0xdeadbeef;
    }
}

/// @notice A wallet whose `isValidSignature` always reverts.
contract RevertingERC1271Wallet is IERC1271 {
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        revert("no");
    }
}

/// @notice A wallet that has signed exactly one digest: `isValidSignature` accepts that digest (any signature
///         bytes) and nothing else. Symbolic tests use it to ask which calls a given signed digest authorises.
contract SingleDigestERC1271Wallet is IERC1271 {
    bytes32 public approved;

    function approve(bytes32 digest) external {
        approved = digest;
    }

    function isValidSignature(bytes32 hash, bytes calldata) external view returns (bytes4) {
        return hash == approved ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }
}
