// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessLogAnchors} from "../src/AccessLogAnchors.sol";
import {ConsentRegistry} from "../src/ConsentRegistry.sol";
import {CredentialRegistry} from "../src/CredentialRegistry.sol";
import {Prescriptions} from "../src/Prescriptions.sol";
import {RecordAnchors} from "../src/RecordAnchors.sol";
import {Vm} from "../test/utils/Vm.sol";

/// @title Deploy
/// @notice Deploys and wires the medledger contracts (the four the indexer follows, and AccessLogAnchors, where
///         record vaults anchor their access logs), then writes the manifest the indexer and the vault read.
/// @dev Works with any forge signer: `forge script contracts/script/Deploy.s.sol --rpc-url $RPC --broadcast`
///      plus `--private-key`, `--keystore` or `--ledger`. Environment (all optional):
///      - MEDLEDGER_ADMIN: CredentialRegistry default admin (default: the broadcaster);
///      - MEDLEDGER_REGISTRAR: initial registrar (default: the broadcaster). Outside the dev chain (chain id
///        31337) it must differ from the admin, or the script reverts: the admin appoints registrars only after
///        its delay, and one key holding both would skip that delay;
///      - MEDLEDGER_ADMIN_DELAY: admin transfer delay in seconds (default: 2 days), also the wait before an
///        appointed registrar takes office; at least MIN_ADMIN_DELAY (1 day) outside the dev chain, where 0
///        would make both instant;
///      - MEDLEDGER_MANIFEST: manifest path (default: deployments/<chainId>.json).
///      The manifest is written only when broadcasting (not on a dry run). `deployBlock` is the block after the
///      chain's head when the script ran: the first deployment transaction cannot land earlier, and on an
///      automining chain (anvil) lands exactly there, so indexing from it misses nothing.
contract Deploy {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    /// @notice Chain id of anvil's and the test suite's dev chain, the only one where admin == registrar is allowed.
    uint256 public constant DEV_CHAIN_ID = 31_337;

    /// @notice The shortest admin delay allowed outside the dev chain.
    uint48 public constant MIN_ADMIN_DELAY = 1 days;

    /// @notice The admin and the registrar are the same account outside the dev chain.
    error Deploy__AdminIsRegistrar(address account, uint256 chainId);
    /// @notice The admin delay is shorter than MIN_ADMIN_DELAY outside the dev chain.
    error Deploy__AdminDelayTooShort(uint256 delay, uint256 minimum, uint256 chainId);
    uint8 internal constant SCRIPT_BROADCAST = 6;
    uint8 internal constant SCRIPT_RESUME = 7;

    /// @notice Refuses, outside the dev chain, one account as both admin and registrar and an admin delay under
    ///         MIN_ADMIN_DELAY: either would make appointing a registrar instant (issue 19, point 6).
    /// @param admin The CredentialRegistry's default admin.
    /// @param registrar The initial registrar.
    /// @param adminDelay The admin delay, in seconds.
    function checkRoles(address admin, address registrar, uint48 adminDelay) public view {
        if (block.chainid == DEV_CHAIN_ID) return;
        if (admin == registrar) revert Deploy__AdminIsRegistrar(admin, block.chainid);
        if (adminDelay < MIN_ADMIN_DELAY) {
            revert Deploy__AdminDelayTooShort(adminDelay, MIN_ADMIN_DELAY, block.chainid);
        }
    }

    /// @notice Deploys, wires and writes the manifest.
    /// @return credentials The CredentialRegistry.
    /// @return consent The ConsentRegistry.
    /// @return anchors The RecordAnchors.
    /// @return prescriptions The Prescriptions.
    /// @return logAnchors The AccessLogAnchors.
    function run()
        external
        returns (
            CredentialRegistry credentials,
            ConsentRegistry consent,
            RecordAnchors anchors,
            Prescriptions prescriptions,
            AccessLogAnchors logAnchors
        )
    {
        uint256 deployBlock = vm.getBlockNumber() + 1;
        vm.startBroadcast();
        (, address broadcaster,) = vm.readCallers(); // as forge resolved --private-key / --keystore / --ledger
        address admin = vm.envOr("MEDLEDGER_ADMIN", broadcaster);
        address registrar = vm.envOr("MEDLEDGER_REGISTRAR", broadcaster);
        uint48 adminDelay = uint48(vm.envOr("MEDLEDGER_ADMIN_DELAY", uint256(2 days)));
        checkRoles(admin, registrar, adminDelay);

        credentials = new CredentialRegistry(adminDelay, admin, registrar);
        consent = new ConsentRegistry(credentials);
        anchors = new RecordAnchors(consent);
        prescriptions = new Prescriptions(credentials, consent);
        logAnchors = new AccessLogAnchors();
        vm.stopBroadcast();

        if (!vm.isContext(SCRIPT_BROADCAST) && !vm.isContext(SCRIPT_RESUME)) {
            return (credentials, consent, anchors, prescriptions, logAnchors);
        }
        string memory path = vm.envOr(
            "MEDLEDGER_MANIFEST",
            string.concat(vm.projectRoot(), "/deployments/", vm.toString(block.chainid), ".json")
        );
        vm.serializeAddress("contracts", "CredentialRegistry", address(credentials));
        vm.serializeAddress("contracts", "ConsentRegistry", address(consent));
        vm.serializeAddress("contracts", "RecordAnchors", address(anchors));
        vm.serializeAddress("contracts", "AccessLogAnchors", address(logAnchors));
        string memory contractsJson =
            vm.serializeAddress("contracts", "Prescriptions", address(prescriptions));
        vm.serializeUint("manifest", "chainId", block.chainid);
        vm.serializeUint("manifest", "deployBlock", deployBlock);
        vm.writeJson(vm.serializeString("manifest", "contracts", contractsJson), path);
    }
}
