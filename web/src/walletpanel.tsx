// The wallet's state in the header: discovered wallets to connect, the account, the chain, and the way
// to the right chain.
import type { AppConfig } from './config';
import { Addr } from './ui';
import { account, chainId, connect, connecting, disconnect, discovered, switchChain, wallet, walletError, wallets, wrongChain } from './wallet';

export function WalletPanel({ config }: { config: AppConfig }) {
  const w = wallet.value;
  return (
    <div class="wallet" aria-label="Wallet" role="region">
      {!discovered.value ? (
        <span>Looking for wallets…</span>
      ) : account.value && w ? (
        <>
          <span class="who" data-testid="account">
            {w.info.icon && <img src={w.info.icon} alt="" width={18} height={18} />} {w.info.name}: <Addr a={account.value} />
          </span>
          <button type="button" class="link" onClick={disconnect}>
            Disconnect
          </button>
        </>
      ) : wallets.value.length === 0 ? (
        <p class="warn" role="status" data-testid="no-wallet">
          No wallet found. Install a browser wallet (MetaMask, Rabby, Frame…) and import one of the demo accounts that{' '}
          <code>medledger dev</code> prints.
        </p>
      ) : (
        wallets.value.map((x) => (
          <button type="button" key={x.info.uuid} disabled={connecting.value} onClick={() => connect(x)}>
            {x.info.icon && <img src={x.info.icon} alt="" width={18} height={18} />} Connect {x.info.name}
          </button>
        ))
      )}
      {wrongChain.value && (
        <div class="warn" role="alert" data-testid="wrong-chain">
          Your wallet is on chain {chainId.value}; medledger runs on chain {config.chainId}.{' '}
          <button type="button" onClick={() => switchChain(config)}>
            Switch to chain {config.chainId}
          </button>
        </div>
      )}
      {walletError.value && (
        <p class="error" role="alert" data-testid="wallet-error">
          {walletError.value}
        </p>
      )}
    </div>
  );
}
