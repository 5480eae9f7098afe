// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CredentialRegistry} from "../src/CredentialRegistry.sol";
import {ICredentialRegistry} from "../src/interfaces/ICredentialRegistry.sol";
import {Fixture} from "./utils/Fixture.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

contract CredentialRegistryTest is Fixture {
    ICredentialRegistry.Kind internal constant NONE = ICredentialRegistry.Kind.None;
    ICredentialRegistry.Kind internal constant PRESCRIBER = ICredentialRegistry.Kind.Prescriber;
    ICredentialRegistry.Kind internal constant PHARMACY = ICredentialRegistry.Kind.Pharmacy;

    bytes32 internal constant LICENSE = keccak256("license-new");
    address internal doctor;

    function setUp() public override {
        super.setUp();
        doctor = makeAddr("doctor");
    }

    function _register(address account, ICredentialRegistry.Kind kind, uint8 schedules)
        internal
        returns (uint32)
    {
        vm.prank(registrar);
        return credentials.register(account, kind, LICENSE, US_CA, _inDays(30), schedules);
    }

    // ---------------------------------------------------------------- constructor and roles

    function test_Constructor_SetsAdminDelayAndRegistrar() public view {
        vm.assertEq(credentials.defaultAdmin(), admin);
        vm.assertEq(credentials.defaultAdminDelay(), ADMIN_DELAY);
        vm.assertTrue(credentials.hasRole(credentials.REGISTRAR_ROLE(), registrar));
        vm.assertEq(credentials.credentialCount(), 4);
    }

    function test_Constructor_WithoutRegistrar() public {
        CredentialRegistry fresh = new CredentialRegistry(ADMIN_DELAY, admin, address(0));
        vm.assertFalse(fresh.hasRole(fresh.REGISTRAR_ROLE(), address(0)));
    }

    function test_AdminTransfer_IsTwoStepWithDelay() public {
        vm.prank(admin);
        credentials.beginDefaultAdminTransfer(stranger);
        vm.warp(block.timestamp + ADMIN_DELAY + 1);
        vm.prank(stranger);
        credentials.acceptDefaultAdminTransfer();
        vm.assertEq(credentials.defaultAdmin(), stranger);
    }

    /// @dev Issue 19 point 6: appointing a registrar waits the admin's delay, like the admin's own transfer.
    function test_Admin_AppointsRegistrarAfterDelay() public {
        vm.expectEmit(address(credentials));
        emit ICredentialRegistry.RegistrarProposed(stranger, uint48(block.timestamp + ADMIN_DELAY));
        vm.prank(admin);
        credentials.proposeRegistrar(stranger);
        vm.assertEq(credentials.registrarReadyAt(stranger), block.timestamp + ADMIN_DELAY);
        vm.warp(block.timestamp + ADMIN_DELAY);
        vm.prank(admin);
        credentials.appointRegistrar(stranger);
        vm.assertTrue(credentials.isRegistrar(stranger));
        vm.assertEq(credentials.registrarReadyAt(stranger), 0);
        vm.prank(stranger);
        credentials.register(doctor, PRESCRIBER, LICENSE, US_CA, _inDays(30), 0);
        vm.assertEq(credentials.idOf(doctor), 5);
    }

    /// @dev Issue 19 point 6: today `grantRole(REGISTRAR_ROLE, x)` makes x a registrar at once.
    function test_RevertWhen_AdminGrantsRegistrarRoleDirectly() public {
        bytes32 role = credentials.REGISTRAR_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__RegistrarNeedsProposal.selector, stranger
            )
        );
        vm.prank(admin);
        credentials.grantRole(role, stranger);
        vm.assertFalse(credentials.isRegistrar(stranger));
    }

    function test_RevertWhen_AppointRegistrarBeforeDelay() public {
        vm.prank(admin);
        credentials.proposeRegistrar(stranger);
        vm.warp(block.timestamp + ADMIN_DELAY - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__RegistrarNotReady.selector,
                stranger,
                uint48(block.timestamp + 1),
                block.timestamp
            )
        );
        vm.prank(admin);
        credentials.appointRegistrar(stranger);
    }

    function test_RevertWhen_AppointRegistrarNotProposed() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__RegistrarNotReady.selector,
                stranger,
                0,
                block.timestamp
            )
        );
        vm.prank(admin);
        credentials.appointRegistrar(stranger);
    }

    function test_CancelRegistrarProposal() public {
        vm.startPrank(admin);
        credentials.proposeRegistrar(stranger);
        vm.expectEmit(address(credentials));
        emit ICredentialRegistry.RegistrarProposalCancelled(stranger);
        credentials.cancelRegistrarProposal(stranger);
        vm.warp(block.timestamp + ADMIN_DELAY);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__RegistrarNotReady.selector,
                stranger,
                0,
                block.timestamp
            )
        );
        credentials.appointRegistrar(stranger);
        vm.stopPrank();
    }

    function test_RevertWhen_ProposeRegistrarTwiceOrExisting() public {
        vm.startPrank(admin);
        credentials.proposeRegistrar(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__RegistrarAlreadyProposed.selector, stranger
            )
        );
        credentials.proposeRegistrar(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__RegistrarAlreadyProposed.selector, registrar
            )
        );
        credentials.proposeRegistrar(registrar);
        vm.stopPrank();
    }

    function test_RevertWhen_ProposeRegistrarByNonAdmin() public {
        bytes32 adminRole = credentials.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(
            abi.encodeWithSignature("AccessControlUnauthorizedAccount(address,bytes32)", registrar, adminRole)
        );
        vm.prank(registrar);
        credentials.proposeRegistrar(stranger);
    }

    /// @dev Revoking a registrar stays immediate: removing a compromised registrar must not wait.
    function test_Admin_RevokesRegistrarAtOnce() public {
        bytes32 role = credentials.REGISTRAR_ROLE();
        vm.prank(admin);
        credentials.revokeRole(role, registrar);
        vm.assertFalse(credentials.isRegistrar(registrar));
    }

    function test_Admin_GrantsReviewerRoleDirectly() public {
        bytes32 role = credentials.REVIEWER_ROLE();
        vm.prank(admin);
        credentials.grantRole(role, stranger);
        vm.assertTrue(credentials.isReviewer(stranger));
    }

    // ---------------------------------------------------------------- register

    function test_Register_StoresCredentialAndEmits() public {
        vm.expectEmit(address(credentials));
        emit ICredentialRegistry.CredentialRegistered(
            doctor, 5, PRESCRIBER, LICENSE, US_CA, _inDays(30), 0x0c
        );
        uint32 id = _register(doctor, PRESCRIBER, 0x0c);

        vm.assertEq(id, 5);
        ICredentialRegistry.Credential memory c = credentials.credentialOf(doctor);
        vm.assertEq(c.id, 5);
        vm.assertTrue(c.kind == PRESCRIBER);
        vm.assertTrue(c.status == ICredentialRegistry.Status.Active);
        vm.assertEq(c.expiresAt, _inDays(30));
        vm.assertEq(c.schedules, 0x0c);
        vm.assertEq(bytes32(c.jurisdiction), bytes32(US_CA));
        vm.assertEq(c.licenseHash, LICENSE);
        vm.assertEq(credentials.idOf(doctor), 5);
        vm.assertEq(credentials.accountOf(5), doctor);
        vm.assertEq(credentials.credentialCount(), 5);
        vm.assertTrue(credentials.isActive(doctor, PRESCRIBER));
    }

    function test_Register_AssignsSequentialIds() public {
        vm.assertEq(_register(makeAddr("a"), PHARMACY, 0), 5);
        vm.assertEq(_register(makeAddr("b"), PRESCRIBER, 0), 6);
        vm.assertEq(credentials.accountOf(6), makeAddr("b"));
        vm.assertEq(credentials.accountOf(7), address(0));
    }

    function test_RevertWhen_RegisterCallerNotRegistrar() public {
        bytes32 role = credentials.REGISTRAR_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        vm.prank(stranger);
        credentials.register(doctor, PRESCRIBER, LICENSE, US_CA, _inDays(30), 0);
    }

    function test_RevertWhen_RegisterZeroAccount() public {
        vm.expectRevert(abi.encodeWithSelector(ICredentialRegistry.CredentialRegistry__ZeroAccount.selector));
        _register(address(0), PRESCRIBER, 0);
    }

    function test_RevertWhen_RegisterAlreadyRegistered() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__AlreadyRegistered.selector, prescriber, 1
            )
        );
        _register(prescriber, PHARMACY, 0);
    }

    function test_RevertWhen_RegisterRevokedAccount() public {
        vm.prank(registrar);
        credentials.revoke(pharmacy, 9);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__CredentialRevoked.selector, pharmacy, 3
            )
        );
        _register(pharmacy, PHARMACY, 0);
    }

    function test_RevertWhen_RegisterKindNone() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.CredentialRegistry__InvalidKind.selector, NONE)
        );
        _register(doctor, NONE, 0);
    }

    function test_RevertWhen_RegisterZeroLicenseHash() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.CredentialRegistry__ZeroLicenseHash.selector, doctor)
        );
        vm.prank(registrar);
        credentials.register(doctor, PRESCRIBER, bytes32(0), US_CA, _inDays(30), 0);
    }

    function test_RevertWhen_RegisterZeroJurisdiction() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.CredentialRegistry__ZeroJurisdiction.selector, doctor)
        );
        vm.prank(registrar);
        credentials.register(doctor, PRESCRIBER, LICENSE, bytes8(0), _inDays(30), 0);
    }

    function test_RevertWhen_RegisterExpiryNotInFuture() public {
        uint40 expiresAt = uint40(block.timestamp);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__InvalidExpiry.selector,
                doctor,
                expiresAt,
                block.timestamp
            )
        );
        vm.prank(registrar);
        credentials.register(doctor, PRESCRIBER, LICENSE, US_CA, expiresAt, 0);
    }

    /// @dev DEA pharmacy registration (21 CFR 1301.13): a pharmacy's schedules are recorded like a prescriber's.
    function test_Register_PharmacyWithSchedules() public {
        _register(doctor, PHARMACY, 0x04);
        vm.assertEq(credentials.credentialOf(doctor).schedules, 0x04);
    }

    function test_RevertWhen_RegisterPharmacyWithInvalidSchedules() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__InvalidSchedules.selector, doctor, PHARMACY, 0x02
            )
        );
        _register(doctor, PHARMACY, 0x02);
    }

    function testFuzz_Register_SchedulesMustBeBitsTwoToFive(uint8 schedules) public {
        if (schedules & ~ALL_SCHEDULES != 0) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    ICredentialRegistry.CredentialRegistry__InvalidSchedules.selector,
                    doctor,
                    PRESCRIBER,
                    schedules
                )
            );
            _register(doctor, PRESCRIBER, schedules);
        } else {
            _register(doctor, PRESCRIBER, schedules);
            (, uint8 stored) = credentials.prescriberAuthority(doctor);
            vm.assertEq(stored, schedules);
        }
    }

    // ---------------------------------------------------------------- renew

    function test_Renew_UpdatesLicenseAndExpiry() public {
        uint40 expiresAt = _inDays(700);
        vm.expectEmit(address(credentials));
        emit ICredentialRegistry.CredentialRenewed(prescriber, 1, LICENSE, expiresAt);
        vm.prank(registrar);
        credentials.renew(prescriber, LICENSE, expiresAt);
        ICredentialRegistry.Credential memory c = credentials.credentialOf(prescriber);
        vm.assertEq(c.licenseHash, LICENSE);
        vm.assertEq(c.expiresAt, expiresAt);
    }

    function test_Renew_ReactivatesExpiredCredential() public {
        vm.warp(block.timestamp + 366 days);
        vm.assertFalse(credentials.isActive(prescriber, PRESCRIBER));
        vm.prank(registrar);
        credentials.renew(prescriber, LICENSE, _inDays(30));
        vm.assertTrue(credentials.isActive(prescriber, PRESCRIBER));
    }

    function test_Renew_KeepsSuspension() public {
        vm.startPrank(registrar);
        credentials.suspend(prescriber, 1);
        credentials.renew(prescriber, LICENSE, _inDays(700));
        vm.stopPrank();
        vm.assertTrue(credentials.credentialOf(prescriber).status == ICredentialRegistry.Status.Suspended);
        vm.assertFalse(credentials.isActive(prescriber, PRESCRIBER));
    }

    function test_RevertWhen_RenewNotRegistered() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.CredentialRegistry__NotRegistered.selector, doctor)
        );
        vm.prank(registrar);
        credentials.renew(doctor, LICENSE, _inDays(30));
    }

    function test_RevertWhen_RenewRevoked() public {
        vm.startPrank(registrar);
        credentials.revoke(prescriber, 7);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__CredentialRevoked.selector, prescriber, 1
            )
        );
        credentials.renew(prescriber, LICENSE, _inDays(30));
        vm.stopPrank();
    }

    function test_RevertWhen_RenewZeroLicenseHash() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__ZeroLicenseHash.selector, prescriber
            )
        );
        vm.prank(registrar);
        credentials.renew(prescriber, bytes32(0), _inDays(30));
    }

    function test_RevertWhen_RenewExpiryInPast() public {
        uint40 expiresAt = uint40(block.timestamp - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__InvalidExpiry.selector,
                prescriber,
                expiresAt,
                block.timestamp
            )
        );
        vm.prank(registrar);
        credentials.renew(prescriber, LICENSE, expiresAt);
    }

    function test_RevertWhen_RenewCallerNotRegistrar() public {
        bytes32 role = credentials.REGISTRAR_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, prescriber, role)
        );
        vm.prank(prescriber);
        credentials.renew(prescriber, LICENSE, _inDays(30));
    }

    // ---------------------------------------------------------------- setSchedules

    function test_SetSchedules_UpdatesAndEmits() public {
        vm.expectEmit(address(credentials));
        emit ICredentialRegistry.CredentialSchedulesChanged(prescriber2, 2, 0x30);
        vm.prank(registrar);
        credentials.setSchedules(prescriber2, 0x30);
        (uint32 id, uint8 schedules) = credentials.prescriberAuthority(prescriber2);
        vm.assertEq(id, 2);
        vm.assertEq(schedules, 0x30);
    }

    function test_SetSchedules_OnPharmacy() public {
        vm.expectEmit(address(credentials));
        emit ICredentialRegistry.CredentialSchedulesChanged(pharmacy, 3, 0x04);
        vm.prank(registrar);
        credentials.setSchedules(pharmacy, 0x04);
        vm.assertEq(credentials.credentialOf(pharmacy).schedules, 0x04);
    }

    function test_DispenseAuthority_ReportsBothParties() public {
        (uint32 pharmacyId, uint8 pharmacySchedules, address who, bool active, uint8 schedules) =
            credentials.dispenseAuthority(pharmacy, 1);
        vm.assertEq(pharmacyId, 3);
        vm.assertEq(pharmacySchedules, ALL_SCHEDULES);
        vm.assertEq(who, prescriber);
        vm.assertTrue(active);
        vm.assertEq(schedules, ALL_SCHEDULES);
        vm.prank(registrar);
        credentials.revoke(prescriber, 9);
        (,,, active,) = credentials.dispenseAuthority(pharmacy, 1);
        vm.assertFalse(active);
        (,, who, active,) = credentials.dispenseAuthority(pharmacy, 0); // unknown prescription: no prescriber
        vm.assertEq(who, address(0));
        vm.assertFalse(active);
    }

    function test_RevertWhen_DispenseAuthorityForNonPharmacy() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector, prescriber, PHARMACY
            )
        );
        credentials.dispenseAuthority(prescriber, 1);
    }

    function test_RevertWhen_SetSchedulesInvalidBits() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__InvalidSchedules.selector,
                prescriber,
                PRESCRIBER,
                0x42
            )
        );
        vm.prank(registrar);
        credentials.setSchedules(prescriber, 0x42);
    }

    function test_RevertWhen_SetSchedulesNotRegistered() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.CredentialRegistry__NotRegistered.selector, doctor)
        );
        vm.prank(registrar);
        credentials.setSchedules(doctor, 0x04);
    }

    // ---------------------------------------------------------------- suspend / reinstate / revoke

    function test_Suspend_DeactivatesAndEmits() public {
        vm.expectEmit(address(credentials));
        emit ICredentialRegistry.CredentialSuspended(pharmacy, 3, 42);
        vm.prank(registrar);
        credentials.suspend(pharmacy, 42);
        vm.assertFalse(credentials.isActive(pharmacy, PHARMACY));
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector, pharmacy, PHARMACY
            )
        );
        credentials.activePharmacyId(pharmacy);
        vm.assertEq(credentials.idOf(pharmacy), 3);
    }

    function test_RevertWhen_SuspendNotActive() public {
        vm.startPrank(registrar);
        credentials.suspend(pharmacy, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__InvalidStatus.selector,
                pharmacy,
                ICredentialRegistry.Status.Suspended
            )
        );
        credentials.suspend(pharmacy, 1);
        vm.stopPrank();
    }

    function test_Reinstate_ReactivatesAndEmits() public {
        vm.startPrank(registrar);
        credentials.suspend(prescriber, 1);
        vm.expectEmit(address(credentials));
        emit ICredentialRegistry.CredentialReinstated(prescriber, 1);
        credentials.reinstate(prescriber);
        vm.stopPrank();
        vm.assertTrue(credentials.isActive(prescriber, PRESCRIBER));
    }

    function test_RevertWhen_ReinstateNotSuspended() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__InvalidStatus.selector,
                prescriber,
                ICredentialRegistry.Status.Active
            )
        );
        vm.prank(registrar);
        credentials.reinstate(prescriber);
    }

    function test_Revoke_IsFinal() public {
        vm.startPrank(registrar);
        credentials.suspend(prescriber, 1);
        vm.expectEmit(address(credentials));
        emit ICredentialRegistry.CredentialRevoked(prescriber, 1, 77);
        credentials.revoke(prescriber, 77);
        vm.assertTrue(credentials.credentialOf(prescriber).status == ICredentialRegistry.Status.Revoked);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__CredentialRevoked.selector, prescriber, 1
            )
        );
        credentials.reinstate(prescriber);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__CredentialRevoked.selector, prescriber, 1
            )
        );
        credentials.revoke(prescriber, 77);
        vm.stopPrank();
        vm.assertEq(credentials.idOf(prescriber), 1);
    }

    function test_RevertWhen_SuspendNotRegistered() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICredentialRegistry.CredentialRegistry__NotRegistered.selector, doctor)
        );
        vm.prank(registrar);
        credentials.suspend(doctor, 1);
    }

    // ---------------------------------------------------------------- views

    function test_IsActive_KindMustMatch() public view {
        vm.assertTrue(credentials.isActive(prescriber, PRESCRIBER));
        vm.assertFalse(credentials.isActive(prescriber, PHARMACY));
        vm.assertFalse(credentials.isActive(prescriber, NONE));
        vm.assertFalse(credentials.isActive(stranger, NONE));
    }

    function testFuzz_IsActive_HonoursExpiry(uint256 lifetime, uint256 elapsed) public {
        lifetime = bound(lifetime, 1, 3650 days);
        elapsed = bound(elapsed, 0, 2 * lifetime);
        uint40 expiresAt = uint40(block.timestamp + lifetime);
        vm.prank(registrar);
        credentials.register(doctor, PRESCRIBER, LICENSE, US_CA, expiresAt, 0);
        vm.warp(block.timestamp + elapsed);
        bool expected = block.timestamp < expiresAt;
        vm.assertEq(credentials.isActive(doctor, PRESCRIBER), expected);
        if (!expected) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    ICredentialRegistry.CredentialRegistry__NotActive.selector, doctor, PRESCRIBER
                )
            );
        }
        credentials.prescriberAuthority(doctor);
    }

    function test_RevertWhen_PrescriberAuthorityOfPharmacy() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector, pharmacy, PRESCRIBER
            )
        );
        credentials.prescriberAuthority(pharmacy);
    }

    function test_RevertWhen_ActivePharmacyIdOfPrescriber() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ICredentialRegistry.CredentialRegistry__NotActive.selector, prescriber, PHARMACY
            )
        );
        credentials.activePharmacyId(prescriber);
    }

    function test_ActivePharmacyId_ReturnsId() public view {
        vm.assertEq(credentials.activePharmacyId(pharmacy2), 4);
        vm.assertEq(credentials.idOf(stranger), 0);
    }
}
