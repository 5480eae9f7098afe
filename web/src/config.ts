// What the server tells the app about the chain: GET /config.json.
import type { Address } from 'viem';

export type ContractName = 'CredentialRegistry' | 'ConsentRegistry' | 'RecordAnchors' | 'Prescriptions';

export interface AppConfig {
  chainId: number;
  deployBlock: number;
  /** A JSON-RPC URL for wallets that do not know the chain (wallet_addEthereumChain). */
  rpcUrl: string | null;
  /** Block explorer base URL, without a trailing slash. */
  explorerUrl: string | null;
  contracts: Record<ContractName, Address> | null;
  /** The record vault mounted beside the API: its upload limit in bytes (null: no vault). */
  vault: { maxUpload: number } | null;
}

export async function loadConfig(): Promise<AppConfig> {
  const r = await fetch('/config.json', { headers: { accept: 'application/json' } });
  if (!r.ok) throw new Error(`the server's /config.json answered ${r.status}`);
  return (await r.json()) as AppConfig;
}

export function txUrl(config: AppConfig, hash: string): string | null {
  return config.explorerUrl ? `${config.explorerUrl}/tx/${hash}` : null;
}
