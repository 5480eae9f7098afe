// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ConsentRegistry} from "../../src/ConsentRegistry.sol";
import {CredentialRegistry} from "../../src/CredentialRegistry.sol";
import {Prescriptions} from "../../src/Prescriptions.sol";
import {RecordAnchors} from "../../src/RecordAnchors.sol";
import {ICredentialRegistry} from "../../src/interfaces/ICredentialRegistry.sol";
import {IPrescriptions} from "../../src/interfaces/IPrescriptions.sol";
import {Test} from "./Test.sol";

/// @notice Deploys and wires the four contracts, registers a prescriber and two pharmacies (registered for
///         schedules II–V), and has the patient consent to the prescriber: the state every test starts from.
abstract contract Fixture is Test {
    uint256 internal constant START = 1_750_000_000;
    uint48 internal constant ADMIN_DELAY = 2 days;
    uint8 internal constant READ = 1;
    uint8 internal constant WRITE = 2;
    uint8 internal constant PRESCRIBE = 4;
    uint8 internal constant ALL_SCOPES = 7;
    uint8 internal constant ALL_SCHEDULES = 0x3c;
    bytes8 internal constant US_CA = "US-CA";
    /// @dev Salted hash of a break-glass justification, as a prescriber's client commits it.
    bytes32 internal constant JUSTIFICATION = keccak256("justification: unconscious in the ED, salted");

    CredentialRegistry internal credentials;
    ConsentRegistry internal consent;
    RecordAnchors internal anchors;
    Prescriptions internal rx;

    address internal admin;
    address internal registrar;
    address internal prescriber;
    uint256 internal prescriberKey;
    address internal prescriber2;
    uint256 internal prescriber2Key;
    address internal pharmacy;
    address internal pharmacy2;
    address internal patient;
    uint256 internal patientKey;
    address internal nurse;
    address internal relayer;
    address internal stranger;

    function setUp() public virtual {
        // The setup happens one second before START, so that a consent signature "signed now" in a test is
        // younger than the patient's direct grant to the prescriber (which supersedes older signatures).
        vm.warp(START - 1);
        admin = makeAddr("admin");
        registrar = makeAddr("registrar");
        (prescriber, prescriberKey) = makeAccount("prescriber");
        (prescriber2, prescriber2Key) = makeAccount("prescriber2");
        pharmacy = makeAddr("pharmacy");
        pharmacy2 = makeAddr("pharmacy2");
        (patient, patientKey) = makeAccount("patient");
        nurse = makeAddr("nurse");
        relayer = makeAddr("relayer");
        stranger = makeAddr("stranger");

        credentials = new CredentialRegistry(ADMIN_DELAY, admin, registrar);
        consent = new ConsentRegistry(credentials);
        anchors = new RecordAnchors(consent);
        rx = new Prescriptions(credentials, consent);

        vm.startPrank(registrar);
        credentials.register(
            prescriber,
            ICredentialRegistry.Kind.Prescriber,
            keccak256("license-1"),
            US_CA,
            _inDays(365),
            ALL_SCHEDULES
        );
        credentials.register(
            prescriber2, ICredentialRegistry.Kind.Prescriber, keccak256("license-2"), US_CA, _inDays(365), 0
        );
        credentials.register(
            pharmacy,
            ICredentialRegistry.Kind.Pharmacy,
            keccak256("license-3"),
            US_CA,
            _inDays(365),
            ALL_SCHEDULES
        );
        credentials.register(
            pharmacy2,
            ICredentialRegistry.Kind.Pharmacy,
            keccak256("license-4"),
            US_CA,
            _inDays(365),
            ALL_SCHEDULES
        );
        vm.stopPrank();

        vm.prank(patient);
        consent.grant(prescriber, ALL_SCOPES, _inDays(365));
        vm.warp(START);
    }

    /// @dev EIP-712 digest of a consent `Grant` for `registry` (its chain id and address), signed now.
    function _grantDigest(
        ConsentRegistry registry,
        address patient_,
        address grantee,
        uint8 scopes,
        uint40 expiresAt,
        uint256 nonce,
        uint256 deadline
    ) internal view returns (bytes32) {
        return _grantDigestAt(
            registry, patient_, grantee, scopes, expiresAt, uint40(block.timestamp), nonce, deadline
        );
    }

    /// @dev EIP-712 digest of a consent `Grant` signed at `signedAt`.
    function _grantDigestAt(
        ConsentRegistry registry,
        address patient_,
        address grantee,
        uint8 scopes,
        uint40 expiresAt,
        uint40 signedAt,
        uint256 nonce,
        uint256 deadline
    ) internal view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                registry.GRANT_TYPEHASH(), patient_, grantee, scopes, expiresAt, signedAt, nonce, deadline
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", registry.DOMAIN_SEPARATOR(), structHash));
    }

    /// @dev EIP-712 digest of a consent `Revoke` for `consent`, signed now.
    function _revokeDigest(address patient_, address grantee, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(consent.REVOKE_TYPEHASH(), patient_, grantee, uint40(block.timestamp), nonce, deadline)
        );
        return keccak256(abi.encodePacked("\x19\x01", consent.DOMAIN_SEPARATOR(), structHash));
    }

    function _inDays(uint256 daysFromNow) internal view returns (uint40) {
        return uint40(block.timestamp + daysFromNow * 1 days);
    }

    /// @dev Clinical content with real strings, as a prescriber's system would produce it.
    function _content() internal pure returns (IPrescriptions.PrescriptionContent memory) {
        return IPrescriptions.PrescriptionContent({
            patientName: "Jane Q. Doe",
            patientIdentifier: "MRN-000123",
            rxnormCode: "197361",
            drugName: "Amlodipine",
            strength: "5 mg",
            dosageInstructions: "Take 1 tablet by mouth once daily",
            quantity: 90,
            unit: "tablet",
            substitutionAllowed: true,
            salt: keccak256("content salt")
        });
    }

    /// @dev Three fills of 30 (30 days' supply), written now, valid 90 days, 25 days between fills, any
    ///      pharmacy, to be issued within a day.
    function _terms() internal view returns (IPrescriptions.RxTerms memory) {
        return IPrescriptions.RxTerms({
            patient: patient,
            prescriber: prescriber,
            contentHash: rx.hashContent(_content()),
            fills: 3,
            quantityPerFill: 30,
            daysSupply: 30,
            dateWritten: uint32(block.timestamp),
            earliestFillAt: uint32(block.timestamp),
            validUntil: uint32(block.timestamp + 90 days),
            minFillInterval: 25 days,
            schedule: 0,
            longTermCare: false,
            pharmacy: address(0),
            nonce: 1,
            deadline: uint32(block.timestamp + 1 days)
        });
    }

    function _issue(IPrescriptions.RxTerms memory terms) internal returns (bytes32 rxId) {
        vm.prank(terms.prescriber);
        rxId = rx.issue(terms);
    }

    function _dispense(bytes32 rxId, uint32 quantity) internal {
        _dispenseBy(pharmacy, rxId, quantity);
    }

    /// @dev A dispense as a pharmacy's client sends it: on top of the total it just read.
    function _dispenseBy(address by, bytes32 rxId, uint32 quantity) internal {
        uint256 before = _dispensedOf(rxId);
        vm.prank(by);
        rx.dispense(rxId, quantity, before, false, keccak256(abi.encode(rxId, quantity, block.timestamp)));
    }

    function _dispensedOf(bytes32 rxId) internal view returns (uint256 dispensed) {
        (, dispensed,) = rx.prescriptionOf(rxId);
    }
}
