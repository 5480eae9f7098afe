// Wallets: EIP-6963 discovery (every installed wallet announces itself), with window.ethereum (EIP-1193) as
// the fallback; the connected account and chain as signals; switching or adding the app's chain.
import { computed, signal } from '@preact/signals';
import { numberToHex } from 'viem';
import type { AppConfig } from './config';

export interface Eip1193 {
  request(args: { method: string; params?: unknown }): Promise<unknown>;
  on?(event: string, listener: (...args: any[]) => void): void;
  removeListener?(event: string, listener: (...args: any[]) => void): void;
}

export interface WalletInfo {
  uuid: string;
  name: string;
  icon: string;
  rdns: string;
}

export interface Wallet {
  info: WalletInfo;
  provider: Eip1193;
}

export const wallets = signal<Wallet[]>([]);
export const discovered = signal(false);
export const wallet = signal<Wallet | null>(null);
export const account = signal<`0x${string}` | null>(null);
export const chainId = signal<number | null>(null);
export const connecting = signal(false);
export const walletError = signal<string | null>(null);
export const appChainId = signal<number | null>(null);
export const wrongChain = computed(
  () => account.value != null && chainId.value != null && appChainId.value != null && chainId.value !== appChainId.value,
);

const REMEMBER = 'medledger.wallet';

interface ProviderError {
  code?: number;
  message?: string;
  data?: { originalError?: { code?: number } };
}

export function errorCode(e: unknown): number | undefined {
  const err = e as ProviderError;
  return err?.code ?? err?.data?.originalError?.code;
}

/** A provider error in words (the wallet's own message otherwise). */
export function walletMessage(e: unknown): string {
  switch (errorCode(e)) {
    case 4001:
      return 'You declined the request in your wallet.';
    case 4100:
      return 'The wallet has not authorised this site: connect it first.';
    case 4200:
      return 'The wallet does not support this request.';
    case 4900:
    case 4901:
      return 'The wallet is disconnected from the chain.';
    case -32002:
      return 'The wallet already has a request waiting: open it to answer.';
  }
  return (e as ProviderError)?.message ?? String(e);
}

function add(w: Wallet) {
  if (wallets.value.some((x) => x.info.uuid === w.info.uuid || x.provider === w.provider)) return;
  wallets.value = [...wallets.value, w];
}

/** Listens for EIP-6963 announcements and asks wallets to announce; falls back to window.ethereum. */
export function discover(config: AppConfig) {
  appChainId.value = config.chainId;
  window.addEventListener('eip6963:announceProvider', ((e: CustomEvent<Wallet>) => {
    if (e.detail?.provider && e.detail.info) add({ info: e.detail.info, provider: e.detail.provider });
  }) as EventListener);
  window.dispatchEvent(new Event('eip6963:requestProvider'));
  // Wallets answer synchronously; a legacy one only injects window.ethereum.
  setTimeout(() => {
    const injected = (window as { ethereum?: Eip1193 }).ethereum;
    if (injected && !wallets.value.some((w) => w.provider === injected)) {
      add({ info: { uuid: 'injected', name: 'Browser wallet', icon: '', rdns: 'injected' }, provider: injected });
    }
    discovered.value = true;
    const remembered = localStorage.getItem(REMEMBER);
    const w = wallets.value.find((x) => x.info.rdns === remembered);
    if (w) void connect(w, true);
  }, 100);
}

const onAccounts = (accounts: string[]) => {
  account.value = (accounts[0] as `0x${string}` | undefined) ?? null;
  if (!account.value) disconnect();
};
const onChain = (id: string) => {
  chainId.value = Number(id);
};

/** Connects `w`: asks for its accounts (quietly with eth_accounts when `silent`). */
export async function connect(w: Wallet, silent = false) {
  walletError.value = null;
  connecting.value = true;
  try {
    const accounts = (await w.provider.request({ method: silent ? 'eth_accounts' : 'eth_requestAccounts' })) as string[];
    if (!accounts.length) return;
    const id = (await w.provider.request({ method: 'eth_chainId' })) as string;
    if (wallet.value && wallet.value !== w) detach(wallet.value);
    wallet.value = w;
    account.value = accounts[0] as `0x${string}`;
    chainId.value = Number(id);
    w.provider.on?.('accountsChanged', onAccounts);
    w.provider.on?.('chainChanged', onChain);
    localStorage.setItem(REMEMBER, w.info.rdns);
  } catch (e) {
    if (!silent) walletError.value = walletMessage(e);
  } finally {
    connecting.value = false;
  }
}

function detach(w: Wallet) {
  w.provider.removeListener?.('accountsChanged', onAccounts);
  w.provider.removeListener?.('chainChanged', onChain);
}

export function disconnect() {
  if (wallet.value) detach(wallet.value);
  wallet.value = null;
  account.value = null;
  chainId.value = null;
  localStorage.removeItem(REMEMBER);
}

/** Asks the wallet to switch to the app's chain, adding it first when the wallet does not know it (4902). */
export async function switchChain(config: AppConfig) {
  const w = wallet.value;
  if (!w) return;
  walletError.value = null;
  const chain = numberToHex(config.chainId);
  try {
    try {
      await w.provider.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: chain }] });
    } catch (e) {
      if (errorCode(e) !== 4902) throw e;
      if (!config.rpcUrl) throw new Error(`The wallet does not know chain ${config.chainId} and the server names no RPC URL to add it.`);
      await w.provider.request({
        method: 'wallet_addEthereumChain',
        params: [
          {
            chainId: chain,
            chainName: `medledger (${config.chainId})`,
            nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
            rpcUrls: [config.rpcUrl],
            ...(config.explorerUrl ? { blockExplorerUrls: [config.explorerUrl] } : {}),
          },
        ],
      });
      await w.provider.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: chain }] });
    }
    chainId.value = Number(await w.provider.request({ method: 'eth_chainId' }));
  } catch (e) {
    walletError.value = walletMessage(e);
  }
}
