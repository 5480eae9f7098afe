// What every browser test file shares: the stack and a browser for the file (before/after hooks), test wallets
// for the demo accounts, view calls and transactions straight to anvil (changes the page did not make), opening
// a page with a wallet connected, and the per-page checks (axe, screenshot, no console error or foreign request).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { createClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { readContract, waitForTransactionReceipt, writeContract } from 'viem/actions';
import { axe, connect, interactive, launch, openPage, shot } from './browser.mjs';
import { root, startStack } from './stack.mjs';
import { TestWallet } from './wallet.mjs';

/** A contract's ABI as the build embeds it. */
export const abi = (name) => {
  const path = ['core/abi', 'indexer/abi'].map((d) => join(root, d, `${name}.json`)).find((p) => existsSync(p));
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  return Array.isArray(raw) ? raw : raw.abi;
};

export const lower = (a) => a.toLowerCase();

/**
 * Registers the file's before/after hooks; the returned object is filled in before the first test, and then
 * handed to `ready` (to set a test file's own variables). `stackOptions` go to `startStack` (e.g. `rustLog`).
 */
export function harness(ready = () => {}, stackOptions = {}) {
  const h = { stack: null, browser: null, config: null, chain: null };
  before(async () => {
    [h.stack, h.browser] = await Promise.all([startStack(stackOptions), launch()]);
    h.config = await (await fetch(`${h.stack.url}/config.json`)).json();
    h.chain = createClient({ transport: http(h.stack.rpc), pollingInterval: 200 });
    ready(h);
  });
  after(async () => {
    await h.browser?.close();
    await h.stack?.stop();
  });

  /** A test wallet holding `who`'s key. */
  h.wallet = (who, options = {}) => new TestWallet({ rpc: h.stack.rpc, key: who.key, chainId: h.stack.chainId, ...options });

  /** A view call straight to anvil (not through the page). */
  h.view = (contract, functionName, args) =>
    readContract(h.chain, { address: h.config.contracts[contract], abi: abi(contract), functionName, args });

  /** A transaction sent straight to anvil by `who` (a change the page did not make). */
  h.sendAs = async (who, contract, functionName, args) => {
    const account = privateKeyToAccount(who.key);
    const hash = await writeContract(h.chain, { account, chain: null, address: h.config.contracts[contract], abi: abi(contract), functionName, args });
    const receipt = await waitForTransactionReceipt(h.chain, { hash });
    assert.equal(receipt.status, 'success');
  };

  /** Opens `path` with `who`'s wallet connected (in `browser`, default the file's); returns it once its data is on screen. */
  h.open = async (who, path, { wallet: walletOptions, browser = h.browser, ...options } = {}) => {
    const w = h.wallet(who, walletOptions);
    const page = await openPage(browser, h.stack, { ...options, wallet: w });
    await page.goto(h.stack.url + path);
    await connect(page, w);
    await interactive(page);
    return { page, w };
  };

  /** Zero serious axe violations, a screenshot, and nothing the page must not do. */
  h.checkPage = async (t, page, name) => {
    const violations = await axe(page);
    assert.deepEqual(violations, [], `axe-core: serious or critical violations on ${name}`);
    t.diagnostic(`screenshot ${await shot(page, name)}`);
    assert.deepEqual(page.problems, [], `console errors, CSP violations or requests to other hosts on ${name}`);
  };
  return h;
}
