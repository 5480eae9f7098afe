// What every browser test file shares: the stack and the browser started once per file, a test wallet per
// demo account, view calls and transactions straight to anvil (changes the page did not make), opening a
// page with a wallet connected, and the per-page checks (axe-core, screenshot, no console errors or
// requests to other hosts).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { readContract, waitForTransactionReceipt, writeContract } from 'viem/actions';
import { axe, connect, interactive, launch, openPage, shot } from './browser.mjs';
import { root, startStack } from './stack.mjs';
import { TestWallet } from './wallet.mjs';

/** A contract's ABI as the build reads it. */
export function abi(name) {
  const path = ['core/abi', 'indexer/abi'].map((d) => join(root, d, `${name}.json`)).find((p) => existsSync(p));
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  return Array.isArray(raw) ? raw : raw.abi;
}

export const lower = (a) => a.toLowerCase();

export class Harness {
  /** Starts `medledger dev` (with `stackOptions`) and Chromium (in a `before` hook). */
  async start(stackOptions = {}) {
    [this.stack, this.browser] = await Promise.all([startStack(stackOptions), launch()]);
    this.config = await (await fetch(`${this.stack.url}/config.json`)).json();
    this.chain = createClient({ transport: http(this.stack.rpc), pollingInterval: 200 });
  }

  async stop() {
    await this.browser?.close();
    await this.stack?.stop();
  }

  wallet(who, options = {}) {
    return new TestWallet({ rpc: this.stack.rpc, key: who.key, chainId: this.stack.chainId, ...options });
  }

  /** A view call straight to anvil (not through the page). */
  view(contract, functionName, args) {
    return readContract(this.chain, { address: this.config.contracts[contract], abi: abi(contract), functionName, args });
  }

  /** A transaction sent straight to anvil by `who` (a change the page did not make). */
  async sendAs(who, contract, functionName, args) {
    const account = privateKeyToAccount(who.key);
    const hash = await writeContract(this.chain, { account, chain: null, address: this.config.contracts[contract], abi: abi(contract), functionName, args });
    const receipt = await waitForTransactionReceipt(this.chain, { hash });
    assert.equal(receipt.status, 'success');
  }

  /** Opens `path` with `who`'s wallet connected; returns the page once its data is on screen. */
  async open(who, path, { wallet: walletOptions, ...options } = {}) {
    const w = this.wallet(who, walletOptions);
    const page = await openPage(this.browser, this.stack, { ...options, wallet: w });
    await page.goto(this.stack.url + path);
    await connect(page, w);
    await interactive(page);
    return { page, w };
  }

  /** axe-core finds nothing serious, a screenshot is saved, and the page saw no error or foreign host. */
  async checkPage(t, page, name) {
    const violations = await axe(page);
    assert.deepEqual(violations, [], `axe-core: serious or critical violations on ${name}`);
    t.diagnostic(`screenshot ${await shot(page, name)}`);
    assert.deepEqual(page.problems, [], `console errors, CSP violations or requests to other hosts on ${name}`);
  }
}
