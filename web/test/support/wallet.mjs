// An EIP-1193 test wallet: the page sees an injected provider (announced with EIP-6963, optionally also as
// window.ethereum) whose every request goes to this Node process, which signs with an anvil test key
// through a viem local account and forwards everything else to anvil. It can be told to reject the next
// request or to start on another chain, as a person with a real wallet would.
import { createClient, http, numberToHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { sendTransaction } from 'viem/actions';

const ICON = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b57d0"/></svg>')}`;

export class TestWallet {
  constructor({ rpc, key, chainId, name = 'Test Wallet', rdns = 'org.medledger.testwallet', startChainId = chainId, knownChains }) {
    this.rpc = rpc;
    this.account = privateKeyToAccount(key);
    this.chainId = startChainId;
    this.realChainId = chainId;
    this.known = new Set(knownChains ?? [chainId]);
    this.info = { uuid: `${rdns}-${name}`, name, icon: ICON, rdns };
    this.rejectNext = false;
    this.log = [];
    this.client = createClient({ transport: http(rpc) });
    this.pages = new Set();
    this.id = 0;
  }

  get address() {
    return this.account.address;
  }

  /** Exposes the wallet to `page` (before its scripts run). */
  async attach(page, { injectEthereum = false, announce: announces = true } = {}) {
    this.pages.add(page);
    // One binding per wallet: several wallets can sit in one page, as browser extensions do.
    const binding = `__medledgerTestWallet_${this.info.rdns.replace(/\W/g, '_')}`;
    await page.exposeFunction(binding, (method, params) => this.request(method, params));
    await page.addInitScript(
      ({ info, injectEthereum, announces, binding }) => {
        const listeners = {};
        const provider = {
          async request({ method, params }) {
            const r = await window[binding](method, params ?? []);
            if (r.error) {
              const e = new Error(r.error.message);
              e.code = r.error.code;
              if (r.error.data !== undefined) e.data = r.error.data;
              throw e;
            }
            return r.result;
          },
          on(event, fn) {
            (listeners[event] ??= new Set()).add(fn);
          },
          removeListener(event, fn) {
            listeners[event]?.delete(fn);
          },
        };
        window[`${binding}_emit`] = (event, arg) => listeners[event]?.forEach((fn) => fn(arg));
        const announce = () =>
          window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
        if (announces) {
          window.addEventListener('eip6963:requestProvider', announce);
          announce();
        }
        if (injectEthereum) window.ethereum = provider;
      },
      { info: this.info, injectEthereum, announces, binding },
    );
  }

  async emit(event, arg) {
    const name = `__medledgerTestWallet_${this.info.rdns.replace(/\W/g, '_')}_emit`;
    for (const page of this.pages) await page.evaluate(([n, e, a]) => window[n]?.(e, a), [name, event, arg]).catch(() => {});
  }

  async request(method, params) {
    this.log.push({ method, params });
    try {
      return { result: await this.handle(method, params) };
    } catch (e) {
      return { error: { code: e.code ?? -32603, message: e.message, ...(e.data !== undefined ? { data: e.data } : {}) } };
    }
  }

  rejected() {
    if (!this.rejectNext) return;
    this.rejectNext = false;
    throw Object.assign(new Error('User rejected the request.'), { code: 4001 });
  }

  async handle(method, params) {
    switch (method) {
      case 'eth_requestAccounts':
        this.rejected();
        return [this.address];
      case 'eth_accounts':
        return [this.address];
      case 'eth_chainId':
        return numberToHex(this.chainId);
      case 'wallet_switchEthereumChain': {
        const id = Number(params[0].chainId);
        if (!this.known.has(id)) throw Object.assign(new Error(`Unrecognized chain ID ${params[0].chainId}.`), { code: 4902 });
        this.chainId = id;
        await this.emit('chainChanged', numberToHex(id));
        return null;
      }
      case 'wallet_addEthereumChain': {
        this.rejected();
        const id = Number(params[0].chainId);
        if (id !== this.realChainId || !params[0].rpcUrls?.length) throw Object.assign(new Error('unknown network'), { code: -32602 });
        this.known.add(id);
        return null;
      }
      case 'eth_sendTransaction': {
        this.rejected();
        if (this.chainId !== this.realChainId) throw Object.assign(new Error('wallet is on another chain'), { code: 4901 });
        const tx = params[0];
        return sendTransaction(this.client, {
          account: this.account,
          chain: null,
          to: tx.to,
          data: tx.data,
          value: tx.value ? BigInt(tx.value) : undefined,
        });
      }
      case 'eth_signTypedData_v4': {
        this.rejected();
        const typed = typeof params[1] === 'string' ? JSON.parse(params[1]) : params[1];
        const { EIP712Domain: _, ...types } = typed.types;
        return this.account.signTypedData({ domain: typed.domain, types, primaryType: typed.primaryType, message: typed.message });
      }
      case 'personal_sign':
        this.rejected();
        return this.account.signMessage({ message: { raw: params[0] } });
      default: {
        const r = await fetch(this.rpc, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: ++this.id, method, params }),
        });
        const body = await r.json();
        if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code, data: body.error.data });
        return body.result;
      }
    }
  }
}
