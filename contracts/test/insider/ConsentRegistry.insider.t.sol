// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IConsentRegistry} from "../../src/interfaces/IConsentRegistry.sol";
import {Fixture} from "../utils/Fixture.sol";

/// @notice Issue 19, points 2 and 5: a licensed insider in bad faith against the consent registry. Each
///         `test_RevertWhen_` reproduces a finding that succeeded on the contracts before the fix.
contract ConsentRegistryInsiderTest is Fixture {
    address internal reviewer;

    function setUp() public override {
        super.setUp();
        reviewer = makeAddr("reviewer");
        bytes32 role = credentials.REVIEWER_ROLE();
        vm.prank(admin);
        credentials.grantRole(role, reviewer);
    }

    function _open(address grantee, uint32 duration) internal {
        vm.prank(grantee);
        consent.openEmergencyAccess(patient, 7, JUSTIFICATION, duration);
    }

    // ---------------------------------------------------------------- point 2: break-glass limits

    function test_OpenEmergencyAccess_CommitsJustification() public {
        vm.expectEmit(address(consent));
        emit IConsentRegistry.EmergencyAccessOpened(
            patient, prescriber2, 7, JUSTIFICATION, uint40(block.timestamp + 1 hours)
        );
        _open(prescriber2, 1 hours);
        IConsentRegistry.Grant memory g = consent.grantOf(patient, prescriber2);
        vm.assertEq(g.emergencyOpenedAt, block.timestamp);
        vm.assertEq(g.emergencyUntil, block.timestamp + 1 hours);
    }

    /// @dev Before: reason code 0 and no justification were accepted.
    function test_RevertWhen_EmergencyAccessReasonCodeZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__JustificationMissing.selector, 0, JUSTIFICATION
            )
        );
        vm.prank(prescriber2);
        consent.openEmergencyAccess(patient, 0, JUSTIFICATION, 1 hours);
    }

    function test_RevertWhen_EmergencyAccessWithoutJustificationHash() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__JustificationMissing.selector, 7, bytes32(0)
            )
        );
        vm.prank(prescriber2);
        consent.openEmergencyAccess(patient, 7, bytes32(0), 1 hours);
    }

    /// @dev Before: calling again while open pushed `emergencyUntil` 24 hours further, without end.
    function test_RevertWhen_EmergencyAccessReopenedToExtend() public {
        _open(prescriber2, 24 hours);
        vm.warp(block.timestamp + 23 hours);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__EmergencyAccessAlreadyOpen.selector,
                patient,
                prescriber2,
                uint40(START + 24 hours)
            )
        );
        _open(prescriber2, 24 hours);
    }

    /// @dev Before: the grantee re-opened the moment the patient ended the access.
    function test_RevertWhen_EmergencyAccessReopenedWithinCooldown() public {
        _open(prescriber2, 24 hours);
        vm.warp(block.timestamp + 1 hours);
        vm.prank(patient);
        consent.endEmergencyAccess(patient, prescriber2);
        uint256 availableAt = block.timestamp + consent.EMERGENCY_COOLDOWN();
        vm.warp(availableAt - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__EmergencyAccessCooldown.selector,
                patient,
                prescriber2,
                availableAt
            )
        );
        _open(prescriber2, 1 hours);
        vm.warp(availableAt); // [end, end + cooldown): open again exactly at its end
        _open(prescriber2, 1 hours);
        vm.assertTrue(consent.hasScope(patient, prescriber2, READ));
    }

    /// @dev The cooldown also follows an access that simply lapsed.
    function test_RevertWhen_EmergencyAccessReopenedAfterLapseWithinCooldown() public {
        _open(prescriber2, 2 hours);
        vm.warp(block.timestamp + 2 hours);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__EmergencyAccessCooldown.selector,
                patient,
                prescriber2,
                START + 2 hours + consent.EMERGENCY_COOLDOWN()
            )
        );
        _open(prescriber2, 2 hours);
    }

    /// @dev The audit's finding held READ for 90 days; re-opening every hour now yields at most one access per
    ///      24 hours + cooldown.
    function test_EmergencyAccess_NinetyDaysOfRetriesHoldAtMostTheBound() public {
        uint256 heldHours;
        uint256 opens;
        for (uint256 h; h < 90 * 24; ++h) {
            vm.prank(prescriber2);
            try consent.openEmergencyAccess(patient, 7, JUSTIFICATION, 24 hours) {
                opens++;
            } catch {}
            if (consent.hasScope(patient, prescriber2, READ)) heldHours++;
            vm.warp(block.timestamp + 1 hours);
        }
        // 90 days / (1 day open + 7 days cooldown) = 11.25 -> 12 accesses of 24 hours at most.
        vm.assertEq(opens, 12);
        vm.assertLe(heldHours, 12 * 24);
    }

    function test_RevertWhen_EmergencyAccessBlockedGrantee() public {
        vm.expectEmit(address(consent));
        emit IConsentRegistry.EmergencyAccessBlockChanged(patient, prescriber2, true);
        vm.prank(patient);
        consent.setEmergencyBlock(prescriber2, true);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__EmergencyAccessBlocked.selector, patient, prescriber2
            )
        );
        _open(prescriber2, 1 hours);
        vm.prank(patient);
        consent.setEmergencyBlock(prescriber2, false);
        _open(prescriber2, 1 hours);
    }

    function test_SetEmergencyBlock_EndsOpenAccess() public {
        _open(prescriber2, 1 hours);
        vm.expectEmit(address(consent));
        emit IConsentRegistry.EmergencyAccessEnded(patient, prescriber2, patient);
        vm.prank(patient);
        consent.setEmergencyBlock(prescriber2, true);
        vm.assertFalse(consent.hasScope(patient, prescriber2, READ));
        vm.assertTrue(consent.grantOf(patient, prescriber2).emergencyBlocked);
    }

    function test_RevertWhen_SetEmergencyBlockUnchanged() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__BlockUnchanged.selector, patient, prescriber2, false
            )
        );
        vm.prank(patient);
        consent.setEmergencyBlock(prescriber2, false);
    }

    function test_RevertWhen_SetEmergencyBlockOnSelf() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__InvalidGrantee.selector, patient, patient
            )
        );
        vm.prank(patient);
        consent.setEmergencyBlock(patient, true);
    }

    /// @dev Before: a prescriber revoked mid-access kept READ until the access ran out.
    function test_EmergencyAccess_EndsWhenGranteeRevoked() public {
        _open(prescriber2, 24 hours);
        vm.assertTrue(consent.hasScope(patient, prescriber2, READ));
        vm.prank(registrar);
        credentials.revoke(prescriber2, 4);
        vm.assertFalse(consent.hasScope(patient, prescriber2, READ));
    }

    function test_EmergencyAccess_PausedWhileGranteeSuspended() public {
        _open(prescriber2, 24 hours);
        vm.prank(registrar);
        credentials.suspend(prescriber2, 4);
        vm.assertFalse(consent.hasScope(patient, prescriber2, READ));
        vm.prank(registrar);
        credentials.reinstate(prescriber2);
        vm.assertTrue(consent.hasScope(patient, prescriber2, READ)); // still within its own 24-hour bound
    }

    function test_FlagEmergencyAccess_ByReviewer() public {
        _open(prescriber2, 1 hours);
        vm.warp(block.timestamp + 3 days);
        vm.expectEmit(address(consent));
        emit IConsentRegistry.EmergencyAccessFlagged(patient, prescriber2, reviewer, uint40(START), 42);
        vm.prank(reviewer);
        consent.flagEmergencyAccess(patient, prescriber2, 42);
    }

    function test_RevertWhen_FlagEmergencyAccessNotReviewer() public {
        _open(prescriber2, 1 hours);
        vm.expectRevert(
            abi.encodeWithSelector(IConsentRegistry.ConsentRegistry__NotReviewer.selector, registrar)
        );
        vm.prank(registrar);
        consent.flagEmergencyAccess(patient, prescriber2, 42);
    }

    function test_RevertWhen_FlagEmergencyAccessNeverUsed() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__NoEmergencyUse.selector, patient, prescriber2
            )
        );
        vm.prank(reviewer);
        consent.flagEmergencyAccess(patient, prescriber2, 42);
    }

    function test_RevertWhen_FlagEmergencyAccessZeroFinding() public {
        _open(prescriber2, 1 hours);
        vm.expectRevert(abi.encodeWithSelector(IConsentRegistry.ConsentRegistry__ZeroFindingCode.selector));
        vm.prank(reviewer);
        consent.flagEmergencyAccess(patient, prescriber2, 0);
    }

    // ---------------------------------------------------------------- point 5: direct actions supersede

    function _grantSig(address grantee, uint40 signedAt, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        return signDigest(
            patientKey,
            _grantDigestAt(consent, patient, grantee, PRESCRIBE, _inDays(60), signedAt, nonce, deadline)
        );
    }

    /// @dev The audit's sequence: sign a grant, grant directly, revoke directly; ten days later the grantee
    ///      relays the old signature. Before: PRESCRIBE came back.
    function test_RevertWhen_OldSignedGrantRelayedAfterDirectRevoke() public {
        uint40 signedAt = uint40(block.timestamp);
        uint256 deadline = block.timestamp + 30 days;
        uint40 expiresAt = _inDays(60);
        bytes memory sig = _grantSig(nurse, signedAt, 0, deadline);
        vm.warp(block.timestamp + 1);
        vm.startPrank(patient);
        consent.grant(nurse, PRESCRIBE, _inDays(30));
        consent.revoke(nurse);
        vm.stopPrank();
        uint40 revokedAt = uint40(block.timestamp);
        vm.warp(block.timestamp + 10 days);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__SignatureSuperseded.selector,
                patient,
                nurse,
                signedAt,
                revokedAt
            )
        );
        vm.prank(nurse);
        consent.grantWithSig(patient, nurse, PRESCRIBE, expiresAt, signedAt, deadline, sig);
        vm.assertFalse(consent.hasScope(patient, nurse, PRESCRIBE));
    }

    function test_RevertWhen_OldSignedRevokeRelayedAfterDirectGrant() public {
        vm.prank(patient);
        consent.grant(nurse, READ, _inDays(30));
        vm.warp(block.timestamp + 1);
        uint40 signedAt = uint40(block.timestamp);
        bytes memory sig = signDigest(patientKey, _revokeDigest(patient, nurse, 0, block.timestamp + 1 days));
        vm.warp(block.timestamp + 1 hours);
        vm.prank(patient);
        consent.grant(nurse, READ | WRITE, _inDays(30)); // the patient changed her mind, directly
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__SignatureSuperseded.selector,
                patient,
                nurse,
                signedAt,
                uint40(block.timestamp)
            )
        );
        consent.revokeWithSig(patient, nurse, signedAt, START + 1 + 1 days, sig);
        vm.assertTrue(consent.hasScope(patient, nurse, READ | WRITE));
    }

    function test_GrantWithSig_SignedAfterDirectChange() public {
        vm.prank(patient);
        consent.revoke(prescriber);
        vm.warp(block.timestamp + 1);
        uint40 signedAt = uint40(block.timestamp);
        bytes memory sig = _grantSig(prescriber, signedAt, 0, block.timestamp + 1 days);
        consent.grantWithSig(
            patient, prescriber, PRESCRIBE, _inDays(60), signedAt, block.timestamp + 1 days, sig
        );
        vm.assertTrue(consent.hasScope(patient, prescriber, PRESCRIBE));
        vm.assertEq(consent.grantOf(patient, prescriber).directChangeAt, block.timestamp - 1); // relays don't move it
    }

    function test_RevertWhen_GrantWithSigSignedInFuture() public {
        uint40 signedAt = uint40(block.timestamp + 1);
        bytes memory sig = _grantSig(nurse, signedAt, 0, block.timestamp + 1 days);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsentRegistry.ConsentRegistry__SignedInFuture.selector, signedAt, block.timestamp
            )
        );
        consent.grantWithSig(patient, nurse, PRESCRIBE, _inDays(60), signedAt, block.timestamp + 1 days, sig);
    }
}
