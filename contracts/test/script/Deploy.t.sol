// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Deploy} from "../../script/Deploy.s.sol";
import {Test} from "../utils/Test.sol";

/// @notice Issue 19, point 6: the deploy script refuses one account as both admin and registrar outside the dev
///         chain (the registrar appointment delay would otherwise be moot from the first block).
contract DeployTest is Test {
    /// @dev forge's default sender, the broadcaster when a test calls `vm.startBroadcast()` without a key.
    address internal constant DEFAULT_SENDER = 0x1804c8AB1F12E6bbf3894d4083f33e07309d1f38;

    function test_RevertWhen_DeployAdminIsRegistrarOutsideDevChain() public {
        Deploy script = new Deploy();
        vm.chainId(1);
        vm.expectRevert(abi.encodeWithSelector(Deploy.Deploy__AdminIsRegistrar.selector, DEFAULT_SENDER, 1));
        script.run();
    }

    /// @dev Issue 19, point 6: a delay under a day outside the dev chain would make appointing a registrar
    ///      (nearly) instant.
    function test_RevertWhen_DeployAdminDelayTooShortOutsideDevChain() public {
        Deploy script = new Deploy();
        vm.chainId(1);
        vm.expectRevert(abi.encodeWithSelector(Deploy.Deploy__AdminDelayTooShort.selector, 3600, 1 days, 1));
        script.checkRoles(address(0xA11CE), address(0xB0B), 3600);
        script.checkRoles(address(0xA11CE), address(0xB0B), 1 days);
        vm.chainId(31_337);
        script.checkRoles(address(0xA11CE), address(0xA11CE), 0);
    }

    function test_Deploy_AdminIsRegistrarOnDevChain() public {
        Deploy script = new Deploy();
        vm.chainId(31_337);
        script.run();
    }
}
