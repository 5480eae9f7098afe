// Transactions and signatures through the connected wallet (viem actions, one by one): simulate first so a
// revert is explained before the wallet asks, then send, then wait for the receipt.
import {
  BaseError,
  UserRejectedRequestError,
  createClient,
  custom,
  decodeErrorResult,
  decodeFunctionResult,
  encodeFunctionData,
  type Abi,
  type Address,
  type Hex,
} from 'viem';
import { signMessage, signTypedData } from 'viem/actions';
import consentAbi from 'abi:ConsentRegistry';
import credentialAbi from 'abi:CredentialRegistry';
import anchorsAbi from 'abi:RecordAnchors';
import prescriptionsAbi from 'abi:Prescriptions';
import type { AppConfig, ContractName } from './config';
import { explainError } from './revert';
import { account, errorCode, wallet, walletMessage, wrongChain } from './wallet';

export const abis: Record<ContractName, Abi> = {
  ConsentRegistry: consentAbi as Abi,
  CredentialRegistry: credentialAbi as Abi,
  RecordAnchors: anchorsAbi as Abi,
  Prescriptions: prescriptionsAbi as Abi,
};

export type TxPhase = 'idle' | 'wallet' | 'pending' | 'confirmed' | 'failed' | 'rejected';

export interface TxState {
  phase: TxPhase;
  /** What is being done, e.g. "Revoke 0x…". */
  label?: string;
  hash?: Hex;
  block?: bigint;
  message?: string;
}

function client() {
  const w = wallet.value;
  if (!w) throw new Error('Connect a wallet first.');
  return createClient({ transport: custom(w.provider), pollingInterval: 500 });
}

function named(inputs: readonly { name?: string }[] | undefined, args: readonly unknown[] | undefined) {
  const out: Record<string, unknown> = {};
  (inputs ?? []).forEach((input, i) => {
    out[input.name || String(i)] = args?.[i];
  });
  return out;
}

const isRejection = (e: unknown) =>
  (e instanceof BaseError && e.walk((x) => x instanceof UserRejectedRequestError) != null) || errorCode(e) === 4001;

/** The revert data of a failed eth_call / eth_estimateGas, wherever the wallet put it. */
function revertData(e: unknown, depth = 0): Hex | null {
  if (e == null || typeof e !== 'object' || depth > 6) return null;
  const o = e as { data?: unknown; cause?: unknown; error?: unknown; originalError?: unknown };
  if (typeof o.data === 'string' && /^0x[0-9a-fA-F]{8,}$/.test(o.data)) return o.data as Hex;
  for (const next of [o.data, o.error, o.originalError, o.cause]) {
    const d = revertData(next, depth + 1);
    if (d) return d;
  }
  return null;
}

function decodeRevert(data: Hex): string | null {
  for (const abi of Object.values(abis)) {
    try {
      const d = decodeErrorResult({ abi, data });
      if (d.errorName === 'Error') return `the contract refused: ${String(d.args?.[0])}`;
      return explainError(d.errorName, named((d.abiItem as { inputs?: { name?: string }[] }).inputs, d.args));
    } catch {
      /* another contract's error */
    }
  }
  return null;
}

/** Any error of a wallet call or a transaction, in a sentence: custom errors decoded from the ABIs. */
export function explain(e: unknown): string {
  if (isRejection(e)) return walletMessage({ code: 4001 });
  const data = revertData(e);
  const sentence = data && decodeRevert(data);
  if (sentence) return sentence;
  if (e instanceof BaseError) return e.shortMessage;
  return walletMessage(e);
}

function ready(): Address {
  const a = account.value;
  if (!a) throw new Error('Connect a wallet first.');
  if (wrongChain.value) throw new Error("Your wallet is on another chain: switch to medledger's chain first.");
  return a;
}

function address(config: AppConfig, contract: ContractName): Address {
  const a = config.contracts?.[contract];
  if (!a) throw new Error(`The server names no ${contract} address.`);
  return a;
}

/** Polls the wallet's node for the receipt (every 500 ms, up to 10 minutes). */
async function receiptOf(c: ReturnType<typeof client>, hash: Hex): Promise<{ status: Hex; blockNumber: Hex }> {
  for (let i = 0; i < 1200; i++) {
    const r = (await c.request({ method: 'eth_getTransactionReceipt', params: [hash] })) as { status: Hex; blockNumber: Hex } | null;
    if (r) return r;
    await new Promise((ok) => setTimeout(ok, 500));
  }
  throw new Error(`no receipt for ${hash} after 10 minutes: the transaction may still be pending; check the wallet`);
}

/** Simulates, sends and waits for one contract call, reporting each phase to `update`. True when confirmed. */
export async function send(
  config: AppConfig,
  contract: ContractName,
  functionName: string,
  args: readonly unknown[],
  update: (s: TxState) => void,
  label?: string,
): Promise<boolean> {
  let hash: Hex | undefined;
  try {
    const from = ready();
    const c = client();
    const to = address(config, contract);
    const data = encodeFunctionData({ abi: abis[contract], functionName, args });
    update({ phase: 'wallet', label });
    // Simulated first: a revert is explained before the wallet asks to sign.
    await c.request({ method: 'eth_call', params: [{ from, to, data }, 'latest'] });
    hash = (await c.request({ method: 'eth_sendTransaction', params: [{ from, to, data }] })) as Hex;
    update({ phase: 'pending', label, hash });
    const receipt = await receiptOf(c, hash);
    const block = BigInt(receipt.blockNumber);
    if (receipt.status !== '0x1') {
      update({ phase: 'failed', label, hash, block, message: 'the transaction reverted on chain' });
      return false;
    }
    update({ phase: 'confirmed', label, hash, block });
    return true;
  } catch (e) {
    update({ phase: isRejection(e) ? 'rejected' : 'failed', label, hash, message: explain(e) });
    return false;
  }
}

/** A view call through the wallet's node; with `from`, a simulation of that account's call (its return value). */
export async function read<T>(config: AppConfig, contract: ContractName, functionName: string, args: readonly unknown[], from?: Address): Promise<T> {
  const abi = abis[contract];
  const data = encodeFunctionData({ abi, functionName, args });
  const result = (await client().request({ method: 'eth_call', params: [{ ...(from ? { from } : {}), to: address(config, contract), data }, 'latest'] })) as Hex;
  return decodeFunctionResult({ abi, functionName, data: result }) as T;
}

/** The latest block's time (unix seconds): deadlines are checked against it, not the browser's clock. */
export async function chainTime(): Promise<number> {
  const block = (await client().request({ method: 'eth_getBlockByNumber', params: ['latest', false] })) as { timestamp: Hex } | null;
  if (!block) throw new Error('the wallet returned no latest block');
  return Number(block.timestamp);
}

/** An EIP-712 signature by the connected account (eth_signTypedData_v4). */
export async function signTyped(
  config: AppConfig,
  contract: ContractName,
  name: string,
  types: Record<string, { name: string; type: string }[]>,
  primaryType: string,
  message: Record<string, unknown>,
): Promise<Hex> {
  const from = ready();
  return signTypedData(client(), {
    account: from,
    domain: { name, version: '1', chainId: config.chainId, verifyingContract: address(config, contract) },
    types,
    primaryType,
    message,
  } as Parameters<typeof signTypedData>[1]);
}

/** An EIP-191 signature of `message` by the connected account (personal_sign), e.g. a Sign-In with Ethereum message. */
export async function signText(message: string): Promise<Hex> {
  return signMessage(client(), { account: ready(), message });
}
