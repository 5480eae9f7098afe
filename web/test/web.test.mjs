// Browser tests of the web app against the real stack: `medledger dev` (anvil, PostgreSQL, the contracts
// with the demo story, the indexer, the API and the embedded app), headless Chromium, and a test wallet that
// signs with anvil's keys and sends real transactions. No mocked chain, no mocked API.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { privateKeyToAccount } from 'viem/accounts';
import { simulateContract, waitForTransactionReceipt, writeContract } from 'viem/actions';
import { axe, interactive, openPage, record, shot } from './support/browser.mjs';
import { abi, harness, lower } from './support/harness.mjs';

let stack;
let browser;
let config;
let chain;
const h = harness((x) => ({ stack, browser, config, chain } = x));
const { wallet, view, sendAs, open, checkPage } = h;

describe('the embedded build', () => {
  test('the binary serves the real bundle, not the placeholder', async () => {
    const build = await (await fetch(`${stack.url}/web-build.json`)).json();
    assert.equal(build.placeholder, false);
    const html = await (await fetch(`${stack.url}/patient`)).text();
    const script = html.match(/src="\/(assets\/app-[A-Z0-9]+\.js)"/)?.[1];
    assert.ok(script && build.files.includes(script), `index.html loads a file of the build: ${script}`);
    const asset = await fetch(`${stack.url}/${script}`);
    assert.equal(asset.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(asset.headers.get('cache-control'), /immutable/);
    for (const [name, p] of Object.entries(build.pages)) record(`size.${name}`, { jsGzip: p.jsGzip, cssGzip: p.cssGzip });
  });

  test('GraphiQL works from the binary alone and queries the API', async (t) => {
    const page = await openPage(browser, stack);
    await page.goto(`${stack.url}/graphql`);
    await page.locator('.graphiql-container').waitFor();
    await page.getByRole('button', { name: /Execute query/ }).click();
    await page.locator('.graphiql-response').getByText('"chainId"').waitFor();
    t.diagnostic(`screenshot ${await shot(page, 'graphiql')}`);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});

describe('wallets', () => {
  test('no wallet: the landing page says what to do', async (t) => {
    const page = await openPage(browser, stack);
    await page.goto(stack.url);
    await interactive(page);
    await page.getByTestId('no-wallet').waitFor();
    await checkPage(t, page, 'landing');
    await page.context().close();
  });

  test('a legacy wallet (window.ethereum only) is found and connects', async () => {
    const w = wallet(stack.who('Maria'), { name: 'Legacy' });
    const page = await openPage(browser, stack, { wallet: w, injectEthereum: true, announce: false });
    await page.goto(`${stack.url}/patient`);
    await page.getByRole('button', { name: 'Connect Browser wallet' }).click();
    await page.getByTestId('account').getByText(/0x976E/).waitFor();
    await page.context().close();
  });

  test('several wallets at once (EIP-6963): each is offered, the chosen one signs', async () => {
    const [maria, james] = ['Maria', 'James'].map(stack.who);
    const a = wallet(maria, { name: 'Wallet A', rdns: 'org.example.a' });
    const b = wallet(james, { name: 'Wallet B', rdns: 'org.example.b' });
    const page = await openPage(browser, stack);
    await a.attach(page);
    await b.attach(page);
    await page.goto(`${stack.url}/patient`);
    await page.getByRole('button', { name: 'Connect Wallet A' }).waitFor();
    await page.getByRole('button', { name: 'Connect Wallet B' }).click();
    await page.getByTestId('account').getByText('Wallet B').waitFor();
    await page.getByRole('heading', { name: 'Your records and who can see them' }).waitFor();
    await page.getByText(/^Patient 0x14dC/).waitFor();
    assert.ok(b.log.some((x) => x.method === 'eth_requestAccounts'));
    assert.ok(!a.log.some((x) => x.method === 'eth_requestAccounts'), 'the other wallet was not asked');
    await page.context().close();
  });

  test('the wrong chain: the app offers to switch, adding the chain first when the wallet lacks it', async () => {
    const { page, w } = await open(stack.who('Maria'), '/patient', { wallet: { startChainId: 1, knownChains: [1] } });
    const alert = page.getByTestId('wrong-chain');
    await alert.getByText(`Your wallet is on chain 1; medledger runs on chain ${stack.chainId}.`).waitFor();
    // A transaction is refused before it reaches the wallet.
    await page.getByRole('button', { name: /^Revoke 0x/ }).first().click();
    await page.getByRole('region', { name: 'Who has access now' }).getByRole('alert').getByText(/switch to medledger's chain first/).waitFor();
    await alert.getByRole('button', { name: `Switch to chain ${stack.chainId}` }).click();
    await alert.waitFor({ state: 'detached' });
    const add = w.log.find((x) => x.method === 'wallet_addEthereumChain');
    assert.ok(add, 'wallet_addEthereumChain was asked');
    assert.equal(add.params[0].rpcUrls[0], stack.rpc);
    assert.equal(Number(add.params[0].chainId), stack.chainId);
    assert.equal(w.chainId, stack.chainId);
    assert.ok(!w.log.some((x) => x.method === 'eth_sendTransaction'));
    await page.context().close();
  });
});

describe('patient', () => {
  test('grants her new doctor and revokes the old one: the chain and the page agree', async (t) => {
    const [maria, okafor, haddad] = ['Maria', 'Okafor', 'Haddad'].map(stack.who);
    const { page } = await open(maria, '/patient');
    await page.evaluate(() => (window.__sameDocument = true));
    const access = page.getByRole('region', { name: 'Who has access now' });
    await access.locator(`tr[data-grantee="${lower(okafor.address)}"]`).waitFor();
    assert.equal(await access.locator(`tr[data-grantee="${lower(haddad.address)}"]`).count(), 0);

    // Grant, with the keyboard: type the address, tick a box with Space, submit with Enter.
    const grant = page.getByRole('region', { name: 'Grant access' });
    await grant.getByLabel('Grantee (doctor, clinic, relative) address').fill(haddad.address);
    await grant.getByLabel('Prescribe').focus();
    await page.keyboard.press('Space');
    await grant.getByLabel('Grantee (doctor, clinic, relative) address').press('Enter');
    await grant.getByText(/confirmed in block \d+/).waitFor();
    await access.locator(`tr[data-grantee="${lower(haddad.address)}"]`).getByText('Read records, Prescribe').waitFor();

    await access.getByRole('button', { name: `Revoke ${okafor.address}` }).click();
    await access.getByText(/confirmed in block \d+/).waitFor();
    await access.locator(`tr[data-grantee="${lower(okafor.address)}"]`).waitFor({ state: 'detached' });
    await page.getByRole('region', { name: 'Past access' }).locator(`[data-grantee="${lower(okafor.address)}"]`).getByText(/revoked/).waitFor();

    assert.equal(await view('ConsentRegistry', 'hasScope', [maria.address, haddad.address, 4]), true);
    assert.equal(await view('ConsentRegistry', 'hasScope', [maria.address, haddad.address, 1]), true);
    assert.equal(await view('ConsentRegistry', 'hasScope', [maria.address, okafor.address, 1]), false);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload');
    await checkPage(t, page, 'patient');
    await page.context().close();
  });

  test('a change made elsewhere appears without a reload (subscription)', async () => {
    const [maria, relayer] = ['Maria', 'relayer'].map(stack.who);
    const { page } = await open(maria, '/patient');
    await page.evaluate(() => (window.__sameDocument = true));
    const row = page.getByRole('region', { name: 'Who has access now' }).locator(`tr[data-grantee="${lower(relayer.address)}"]`);
    assert.equal(await row.count(), 0);
    const inAYear = Math.floor(Date.now() / 1000) + 400 * 86_400;
    await sendAs(maria, 'ConsentRegistry', 'grant', [relayer.address, 1, inAYear]);
    await row.waitFor({ timeout: 15_000 });
    await page.getByText(/last change: ConsentGranted \(block \d+\)/).waitFor();
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload');
    await page.context().close();
  });

  test('a grant signed for a relayer works once relayed, and burnt signatures do not', async () => {
    const [maria, james, relayer] = ['Maria', 'James', 'relayer'].map(stack.who);
    const { page } = await open(maria, '/patient');
    const grant = page.getByRole('region', { name: 'Grant access' });
    const sign = async () => {
      await grant.getByLabel('Grantee (doctor, clinic, relative) address').fill(james.address);
      await grant.getByLabel('Sign only, for a relayer to send (no fee for me)').check();
      await grant.getByRole('button', { name: 'Sign the grant' }).click();
      const text = await grant.getByLabel('Signed grant: hand it to the relayer').inputValue();
      return JSON.parse(text);
    };
    const relay = (s) =>
      simulateContract(chain, {
        account: privateKeyToAccount(relayer.key),
        address: s.contract,
        abi: abi('ConsentRegistry'),
        functionName: 'grantWithSig',
        args: [s.patient, s.grantee, s.scopes, s.expiresAt, s.signedAt, BigInt(s.deadline), s.signature],
      });
    const first = await sign();
    assert.equal(first.patient, maria.address);
    const { request } = await relay(first);
    const hash = await writeContract(chain, { ...request, chain: null });
    await waitForTransactionReceipt(chain, { hash });
    await page.getByRole('region', { name: 'Who has access now' }).locator(`tr[data-grantee="${lower(james.address)}"]`).waitFor();

    const second = await sign();
    assert.equal(BigInt(second.nonce), BigInt(first.nonce) + 1n);
    const burn = page.getByRole('region', { name: 'Signatures not yet relayed' });
    await burn.getByRole('button', { name: 'Invalidate unrelayed signatures' }).click();
    await burn.getByText(/confirmed in block \d+/).waitFor();
    await assert.rejects(relay(second), /ConsentRegistry__InvalidSignature/);
    await page.context().close();
  });

  test('a rejected signature is said plainly and nothing is sent', async () => {
    const { page, w } = await open(stack.who('Maria'), '/patient');
    const grant = page.getByRole('region', { name: 'Grant access' });
    await grant.getByLabel('Grantee (doctor, clinic, relative) address').fill(stack.who('Haddad').address);
    await grant.getByLabel('Sign only, for a relayer to send (no fee for me)').check();
    w.rejectNext = true;
    await grant.getByRole('button', { name: 'Sign the grant' }).click();
    await grant.getByRole('alert').getByText('You declined the request in your wallet.').waitFor();
    assert.equal(await grant.getByLabel('Signed grant: hand it to the relayer').count(), 0);
    await page.context().close();
  });

  test('hides a record and shows it again: the chain and the page agree', async () => {
    const { page } = await open(stack.who('Maria'), '/patient');
    const records = page.getByRole('region', { name: 'Your records' });
    const row = records.locator('tr[data-record="1-0"]');
    await row.getByText('Visible').waitFor();
    await row.getByRole('button', { name: 'Hide record 0 of episode 1' }).click();
    await records.getByText(/Hide record 0: confirmed in block \d+/).waitFor();
    await row.getByRole('button', { name: 'Show record 0 of episode 1' }).waitFor();
    assert.equal(await view('RecordAnchors', 'isRecordHidden', [1n, 0]), true);
    await row.getByRole('button', { name: 'Show record 0 of episode 1' }).click();
    await records.getByText(/Show record 0: confirmed in block \d+/).waitFor();
    await row.getByRole('button', { name: 'Hide record 0 of episode 1' }).waitFor();
    assert.equal(await view('RecordAnchors', 'isRecordHidden', [1n, 0]), false);
    await page.context().close();
  });

  test('a pending transaction shows its hash until its block comes', async () => {
    const rpc = (method, params = []) =>
      fetch(stack.rpc, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) }).then((r) => r.json());
    const { page } = await open(stack.who('Maria'), '/patient');
    const records = page.getByRole('region', { name: 'Your records' });
    await rpc('evm_setAutomine', [false]);
    try {
      await records.getByRole('button', { name: 'Hide record 1 of episode 1' }).click();
      const pending = records.locator('[data-phase="pending"]');
      await pending.getByText(/Hide record 1: pending, waiting for a block/).waitFor();
      const hash = await pending.locator('code').textContent();
      assert.match(hash, /^0x[0-9a-f]{64}$/);
      await page.waitForTimeout(1500);
      assert.equal(await pending.count(), 1, 'still pending while no block is mined');
      await rpc('evm_mine');
      await records.getByText(/Hide record 1: confirmed in block \d+/).waitFor();
      assert.equal(await records.locator('[data-phase="confirmed"] code').textContent(), hash);
    } finally {
      await rpc('evm_setAutomine', [true]);
    }
    await page.context().close();
  });

  test('ends an emergency access: the chain and the page agree', async () => {
    const [chen, haddad] = ['Chen', 'Haddad'].map(stack.who);
    const { page } = await open(chen, '/patient');
    const access = page.getByRole('region', { name: 'Who has access now' });
    const row = access.locator(`tr[data-grantee="${lower(haddad.address)}"]`);
    await row.getByText(/Emergency read access/).waitFor();
    assert.equal(await view('ConsentRegistry', 'hasScope', [chen.address, haddad.address, 1]), true);
    await row.getByRole('button', { name: `End emergency access of ${haddad.address}` }).click();
    await access.getByText(/confirmed in block \d+/).waitFor();
    await row.waitFor({ state: 'detached' });
    assert.equal(await view('ConsentRegistry', 'hasScope', [chen.address, haddad.address, 1]), false);
    await page.context().close();
  });

  test('at phone width nothing overflows sideways, on every page', async (t) => {
    const registrar = stack.accounts.find((x) => x.role === 'registrar');
    for (const [name, path, who] of [
      ['landing', '/', registrar],
      ['patient', '/patient', stack.who('Maria')],
      ['doctor', '/doctor', stack.who('Okafor')],
      ['prescribe', '/doctor/prescribe', stack.who('Okafor')],
      ['pharmacy', '/pharmacy', stack.who('Mission')],
      ['registrar', '/registrar', registrar],
    ]) {
      const { page } = await open(who, path, { width: 390, height: 844 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name}: the page is ${overflow}px wider than the screen`);
      assert.deepEqual(await axe(page), [], `axe-core at phone width on ${name}`);
      t.diagnostic(`screenshot ${await shot(page, `${name}-phone`)}`);
      await page.context().close();
    }
  });
});

describe('doctor', () => {
  test('sees the patients who granted her access', async (t) => {
    const [haddad, maria] = ['Haddad', 'Maria'].map(stack.who);
    const { page } = await open(haddad, '/doctor');
    await page.getByRole('region', { name: 'Patients who granted you access' }).locator(`tr[data-patient="${lower(maria.address)}"]`).waitFor();
    await checkPage(t, page, 'doctor');
    await page.context().close();
  });
});

describe('registrar', () => {
  test('a revert is shown as a sentence before anything is sent', async () => {
    const [registrar, okafor] = [stack.accounts.find((a) => a.role === 'registrar'), stack.who('Okafor')];
    const { page, w } = await open(registrar, '/registrar');
    const form = page.getByRole('region', { name: 'License a prescriber or pharmacy' });
    await form.getByLabel('Account').fill(okafor.address);
    await form.getByLabel('License number (only its salted hash goes on chain)').fill('CA-A-99999');
    await form.getByRole('button', { name: 'License' }).click();
    await form.getByRole('alert').getByText(`License ${okafor.address}: ${okafor.address} already holds credential #1: renew or change it instead`).waitFor();
    assert.ok(!w.log.some((x) => x.method === 'eth_sendTransaction'));
    await page.context().close();
  });

  test('suspends a doctor: the chain and the page agree', async (t) => {
    const [registrar, okafor] = [stack.accounts.find((a) => a.role === 'registrar'), stack.who('Okafor')];
    const { page } = await open(registrar, '/registrar');
    const row = page.locator(`tr[data-account="${lower(okafor.address)}"]`);
    await row.locator('[data-status="active"]').waitFor();
    await row.getByRole('button', { name: `Manage ${okafor.address}` }).click();
    const manage = page.getByRole('region', { name: /^Manage prescriber #/ });
    await page.waitForFunction(() => document.activeElement?.id === 'manage');
    await manage.getByLabel('Reason code').fill('7');
    await manage.getByRole('button', { name: 'Suspend' }).click();
    await manage.getByText(/confirmed in block \d+/).waitFor();
    await row.locator('[data-status="suspended"]').waitFor();
    await row.getByText('(reason 7)').waitFor();
    const credential = await view('CredentialRegistry', 'credentialOf', [okafor.address]);
    assert.equal(credential.status, 1, 'suspended on chain');
    assert.equal(await view('CredentialRegistry', 'isActive', [okafor.address, 1]), false);
    await checkPage(t, page, 'registrar');
    // Revoking asks twice; the doctor suspended in the story (reason 3) is revoked for good.
    const lindqvist = stack.who('Lindqvist');
    await page.getByRole('button', { name: `Manage ${lindqvist.address}` }).click();
    const again = page.getByRole('region', { name: /^Manage prescriber #/ });
    await again.getByText(lindqvist.address.slice(0, 6)).first().waitFor();
    await again.getByRole('button', { name: 'Revoke…' }).click();
    await again.getByRole('button', { name: 'Confirm: revoke for good' }).click();
    await again.getByText(/confirmed in block \d+/).waitFor();
    await page.locator(`tr[data-account="${lower(lindqvist.address)}"] [data-status="revoked"]`).waitFor();
    assert.equal((await view('CredentialRegistry', 'credentialOf', [lindqvist.address])).status, 2, 'revoked on chain');
    await page.context().close();
  });
});

describe('measured (not asserted)', () => {
  test('load-to-interactive of each page, a returning user (wallet remembered), median of 3', async (t) => {
    const registrar = stack.accounts.find((a) => a.role === 'registrar');
    for (const [name, path, who] of [
      ['landing', '/', registrar],
      ['patient', '/patient', stack.who('Maria')],
      ['doctor', '/doctor', stack.who('Haddad')],
      ['registrar', '/registrar', registrar],
    ]) {
      const { page } = await open(who, path);
      const times = [];
      for (let i = 0; i < 3; i++) {
        await page.reload();
        await page.getByTestId('account').waitFor();
        times.push(await interactive(page));
      }
      const median = times.sort((a, b) => a - b)[1];
      record(`interactiveMs.${name}`, median);
      t.diagnostic(`${name}: ${median} ms to interactive (${times.join(', ')})`);
      await page.context().close();
    }
  });
});
