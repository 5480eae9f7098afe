// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ICredentialRegistry} from "../../src/interfaces/ICredentialRegistry.sol";
import {Fixture} from "../utils/Fixture.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";

/// @notice Role-admin takeover attempts on the CredentialRegistry: by a registrar, a credential holder, a
///         stranger racing a pending admin transfer, and by the admin itself bypassing the two-step delay.
contract CredentialRegistryAdversarialTest is Fixture {
    bytes32 internal constant DEFAULT_ADMIN_ROLE = 0x00;
    bytes32 internal registrarRole;
    address internal attacker;

    function setUp() public override {
        super.setUp();
        registrarRole = credentials.REGISTRAR_ROLE();
        attacker = makeAddr("attacker");
    }

    function _expectUnauthorized(address account, bytes32 role) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role)
        );
    }

    /// @dev The admin of REGISTRAR_ROLE is the default admin, not the registrars: a registrar cannot add or
    ///      remove registrars, take the default admin role or start an admin transfer.
    function test_RevertWhen_RegistrarEscalates() public {
        vm.assertEq(credentials.getRoleAdmin(registrarRole), DEFAULT_ADMIN_ROLE);
        vm.startPrank(registrar);
        _expectUnauthorized(registrar, DEFAULT_ADMIN_ROLE);
        credentials.grantRole(registrarRole, attacker);
        _expectUnauthorized(registrar, DEFAULT_ADMIN_ROLE);
        credentials.revokeRole(registrarRole, admin);
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        credentials.grantRole(DEFAULT_ADMIN_ROLE, registrar);
        _expectUnauthorized(registrar, DEFAULT_ADMIN_ROLE);
        credentials.beginDefaultAdminTransfer(registrar);
        _expectUnauthorized(registrar, DEFAULT_ADMIN_ROLE);
        credentials.changeDefaultAdminDelay(0);
        vm.stopPrank();
        vm.assertFalse(credentials.hasRole(registrarRole, attacker));
        vm.assertEq(credentials.defaultAdmin(), admin);
    }

    /// @dev Credential holders and strangers have no role: they cannot register, reinstate themselves after a
    ///      suspension, or renew an expired license.
    function test_RevertWhen_CredentialHolderActsAsRegistrar() public {
        vm.prank(registrar);
        credentials.suspend(prescriber, 3);
        vm.startPrank(prescriber);
        _expectUnauthorized(prescriber, registrarRole);
        credentials.reinstate(prescriber);
        _expectUnauthorized(prescriber, registrarRole);
        credentials.renew(prescriber, keccak256("forged"), _inDays(3650));
        _expectUnauthorized(prescriber, registrarRole);
        credentials.register(
            attacker, ICredentialRegistry.Kind.Prescriber, keccak256("x"), US_CA, _inDays(1), 0x3c
        );
        vm.stopPrank();
        vm.assertFalse(credentials.isActive(prescriber, ICredentialRegistry.Kind.Prescriber));
    }

    /// @dev Nobody renounces a role on someone else's behalf.
    function test_RevertWhen_RenouncingAnotherAccountsRole() public {
        vm.expectRevert(IAccessControl.AccessControlBadConfirmation.selector);
        vm.prank(attacker);
        credentials.renounceRole(registrarRole, registrar);
        vm.assertTrue(credentials.hasRole(registrarRole, registrar));
    }

    /// @dev A pending transfer is accepted by its named recipient only, and only after the delay; the current
    ///      admin can cancel it meanwhile.
    function test_RevertWhen_PendingAdminTransferRaced() public {
        address successor = makeAddr("successor");
        vm.prank(admin);
        credentials.beginDefaultAdminTransfer(successor);
        (, uint48 schedule) = credentials.pendingDefaultAdmin();

        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, attacker
            )
        );
        vm.prank(attacker);
        credentials.acceptDefaultAdminTransfer();

        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, schedule
            )
        );
        vm.prank(successor);
        credentials.acceptDefaultAdminTransfer();

        vm.prank(admin);
        credentials.cancelDefaultAdminTransfer();
        vm.warp(uint256(schedule) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, successor
            )
        );
        vm.prank(successor);
        credentials.acceptDefaultAdminTransfer();
        vm.assertEq(credentials.defaultAdmin(), admin);
    }

    /// @dev The admin cannot shortcut its own two-step rules: no direct grant of the admin role, no instant
    ///      delay cut (a shorter delay only takes effect after the old delay has run), no instant renounce.
    function test_RevertWhen_AdminBypassesTwoStepRules() public {
        vm.startPrank(admin);
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        credentials.grantRole(DEFAULT_ADMIN_ROLE, attacker);
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        credentials.revokeRole(DEFAULT_ADMIN_ROLE, admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, 0
            )
        );
        credentials.renounceRole(DEFAULT_ADMIN_ROLE, admin);

        credentials.changeDefaultAdminDelay(0);
        (uint48 newDelay, uint48 effectAt) = credentials.pendingDefaultAdminDelay();
        vm.assertEq(newDelay, 0);
        vm.assertEq(effectAt, block.timestamp + ADMIN_DELAY);
        vm.assertEq(credentials.defaultAdminDelay(), ADMIN_DELAY);
        credentials.beginDefaultAdminTransfer(attacker);
        (, uint48 schedule) = credentials.pendingDefaultAdmin();
        vm.assertEq(schedule, block.timestamp + ADMIN_DELAY, "transfer scheduled with the old delay");

        vm.stopPrank();
        vm.assertEq(credentials.defaultAdmin(), admin);
    }
}
