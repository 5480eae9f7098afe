// Browser tests of the record vault in the web app against the real stack (`medledger dev`: anvil,
// PostgreSQL, the indexer, the API and the vault with the demo's documents), headless Chromium and a test
// wallet signing with anvil's keys. Sign-In with Ethereum, the patient's documents (upload, anchor, open,
// hide), her access log, and doctors opening her records or being refused. No mocks.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { shot } from './support/browser.mjs';
import { harness, lower } from './support/harness.mjs';
import { documents, records, signIn } from './support/vault.mjs';

const h = harness(() => {}, { rustLog: 'info' });
/** A string no demo document holds: what the patient uploads, looked for in every request and log line. */
const MARKER = `home blood pressure diary ${randomBytes(12).toString('hex')}`;
const OWN_NOTE = '51855-5';
const INTAKE = '34117-2';
const BEHAVIORAL = '11488-4';
const IMMUNIZATIONS = '11369-6';

const who = (name) => h.stack.who(name);

/** Where the marker went: every HTTP request body and WebSocket frame of `page` that holds it. */
function watchMarker(page) {
  const seen = [];
  page.on('request', (r) => {
    const body = r.postDataBuffer();
    // (A Blob body is not visible here: the app sends the file's bytes, which are.)
    if (body && body.includes(MARKER)) seen.push(`${r.method()} ${new URL(r.url()).pathname}`);
    if (r.url().includes(encodeURIComponent(MARKER)) || r.url().includes(MARKER)) seen.push(`URL ${r.url()}`);
  });
  page.on('websocket', (ws) =>
    ws.on('framesent', (f) => {
      if (String(f.payload).includes(MARKER)) seen.push(`WS ${ws.url()}`);
    }),
  );
  return seen;
}

/** The patient's page, signed in to the vault. */
async function patientPage(name = 'Maria') {
  const opened = await h.open(who(name), '/patient');
  await signIn(documents(opened.page));
  return opened;
}

/** Dr. `name`'s page, signed in, with Maria's records open. */
async function doctorWithMaria(name) {
  const maria = who('Maria');
  const opened = await h.open(who(name), '/doctor');
  const region = records(opened.page);
  await signIn(region);
  await region.getByRole('button', { name: new RegExp(`^Open records of ${maria.address}$`, 'i') }).click();
  const list = region.locator(`[data-patient="${lower(maria.address)}"]`);
  await list.locator('tr[data-document]').first().waitFor();
  return { ...opened, region, list };
}

describe('the patient', () => {
  test('signs in, uploads a document, anchors it, sees it listed and opens it; its bytes go only to /fhir/*', async (t) => {
    const { page } = await h.open(who('Maria'), '/patient');
    const seen = watchMarker(page);
    const region = documents(page);
    await signIn(region);
    // The demo's documents, the hidden behavioral health note among them (the patient sees it).
    await region.locator(`tr[data-type="${INTAKE}"] td[data-anchor="anchored"]`).waitFor();
    await region.locator(`tr[data-type="${BEHAVIORAL}"] td[data-hidden="true"]`).waitFor();

    await region.getByLabel('Kind of document').selectOption(OWN_NOTE);
    await region.getByLabel(/^File/).setInputFiles({ name: 'bp-diary.md', mimeType: 'text/markdown', buffer: Buffer.from(`# ${MARKER}\n\n128/82 mmHg\n`) });
    await region.getByRole('button', { name: 'Upload and anchor' }).click();
    await region.getByText(/^Anchor Patient's own note: confirmed in block \d+/).waitFor();
    // Anchored once the indexer has the RecordAnchored event (the list reloads on the live update).
    const row = region.locator(`tr[data-type="${OWN_NOTE}"]`);
    await row.locator('td[data-anchor="anchored"]').waitFor({ timeout: 20_000 });
    await row.locator('td[data-hidden="false"]').getByText('Visible').waitFor();
    assert.match(await row.textContent(), /Patient's own note/);

    await row.getByRole('button', { name: /^Open / }).click();
    await region.locator('[data-testid="viewer"][data-phase="shown"]').waitFor();
    await region.getByTestId('viewer').locator('pre').getByText(MARKER).waitFor();

    assert.deepEqual(
      seen,
      ['POST /fhir/Binary'],
      'the document went to the vault once, and nowhere else (not GraphQL, not a WebSocket)',
    );
    await h.checkPage(t, page, 'patient-documents');
    t.diagnostic(`screenshot ${await shot(page, 'patient-documents-section', region)}`);
    assert.ok(!h.stack.logs().includes(MARKER), 'the document is not in the server logs');
    await page.context().close();
  });

  test('a file the vault does not accept is refused with a sentence; one over its limit before it is read', async () => {
    // The app knows the vault's limit from /config.json (25 MiB by default).
    assert.equal(h.config.vault.maxUpload, 25 * 1024 * 1024);
    const { page } = await patientPage();
    const uploads = [];
    page.on('request', (r) => new URL(r.url()).pathname === '/fhir/Binary' && r.method() === 'POST' && uploads.push(r.url()));
    const region = documents(page);
    await region.getByLabel(/^File .*; at most 25\.0 MiB\)$/).waitFor();
    await region.getByLabel(/^File/).setInputFiles({ name: 'scans.zip', mimeType: 'application/zip', buffer: Buffer.from('PK\x03\x04') });
    await region.getByRole('button', { name: 'Upload and anchor' }).click();
    await region.getByRole('alert').getByText(/^The vault does not accept this kind of file/).waitFor();
    assert.equal(uploads.length, 1, 'the vault refused the zip');
    // Over the vault's limit: refused with the limit in words, by the page, before anything is sent.
    await region.getByLabel(/^File/).setInputFiles({ name: 'scan.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(25 * 1024 * 1024 + 1, 0x25) });
    await region.getByRole('button', { name: 'Upload and anchor' }).click();
    await region.getByRole('alert').getByText('The file is too large for the vault: its limit is 25.0 MiB.').waitFor();
    assert.equal(uploads.length, 1, 'the oversized file was not sent');
    await page.context().close();
  });

  test('a session that runs out while the page is open asks to sign in again', async () => {
    const { page } = await patientPage();
    const region = documents(page);
    // The session is remembered with its end (not its token); make it end in 15 seconds (time for a loaded
    // machine to reload the page and show it signed in first) and reload.
    await page.evaluate(() => {
      const s = JSON.parse(localStorage.getItem('medledger.vault.session'));
      localStorage.setItem('medledger.vault.session', JSON.stringify({ ...s, expiresAt: new Date(Date.now() + 15_000).toISOString() }));
    });
    await page.reload();
    await region.locator('[data-testid="vault-session"][data-signed-in="yes"]').waitFor();
    await region.getByTestId('vault-notice').getByText('Your vault session has expired: sign in again.').waitFor({ timeout: 45_000 });
    await region.getByRole('button', { name: 'Sign in to the vault' }).waitFor();
    await page.context().close();
  });

  test('a rejected sign-in signature is said plainly, and nothing is sent to the vault', async () => {
    const { page, w } = await h.open(who('Maria'), '/patient');
    const logins = [];
    page.on('request', (r) => new URL(r.url()).pathname === '/auth/login' && logins.push(r.url()));
    const region = documents(page);
    w.rejectNext = true;
    await region.getByRole('button', { name: 'Sign in to the vault' }).click();
    await region.getByRole('alert').getByText('You declined the request in your wallet.').waitFor();
    assert.ok(w.log.some((x) => x.method === 'personal_sign'), 'the wallet was asked to sign');
    assert.deepEqual(logins, []);
    assert.equal(await region.locator('[data-signed-in="yes"]').count(), 0);
    // Signing again works.
    await signIn(region);
    const message = Buffer.from(w.log.filter((x) => x.method === 'personal_sign').at(-1).params[0].slice(2), 'hex').toString();
    assert.match(message, new RegExp(`^${new URL(h.stack.url).host} wants you to sign in with your Ethereum account:\n${who('Maria').address}\n`));
    assert.match(message, new RegExp(`\nChain ID: ${h.stack.chainId}\n`));
    await page.context().close();
  });

  test('a session ended at the vault asks to sign in again', async () => {
    const { page } = await patientPage();
    const region = documents(page);
    await region.getByRole('region', { name: 'Who read what' }).getByRole('table').waitFor();
    // The session ends at the vault behind the page's back (as at its expiry): the browser keeps sending its
    // cookie (HttpOnly: the page cannot read it; the test takes it from the browser).
    const cookie = (await page.context().cookies(h.stack.url)).find((c) => c.name === 'medledger_session');
    assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict', 'an HttpOnly, SameSite=Strict session cookie');
    const out = await fetch(`${h.stack.url}/auth/logout`, { method: 'POST', headers: { cookie: `${cookie.name}=${cookie.value}` } });
    assert.equal(out.status, 204);
    await region.getByRole('button', { name: 'Refresh', exact: true }).click();
    await region.getByTestId('vault-notice').getByText('Your vault session has ended: sign in again.').waitFor();
    await region.getByRole('button', { name: 'Sign in to the vault' }).waitFor();
    await signIn(region);
    // Signing out ends the session at the vault and removes the cookie.
    await region.getByRole('button', { name: 'Sign out of the vault' }).click();
    await region.getByRole('button', { name: 'Sign in to the vault' }).waitFor();
    assert.equal((await page.context().cookies(h.stack.url)).filter((c) => c.name === 'medledger_session' && c.value).length, 0);
    const after = await fetch(`${h.stack.url}/fhir/AuditEvent?patient=${who('Maria').address}`, { headers: { cookie: `medledger_session=${cookie.value}` } });
    assert.equal(after.status, 401, 'the earlier session stays ended');
    await page.context().close();
  });

  test('at phone width the signed-in documents and records sections do not overflow sideways', async (t) => {
    for (const [name, path, person, region] of [
      ['patient-documents-phone', '/patient', 'Maria', documents],
      ['doctor-records-phone', '/doctor', 'Okafor', records],
    ]) {
      const { page } = await h.open(who(person), path, { width: 390, height: 844 });
      await signIn(region(page));
      if (path === '/doctor') await region(page).getByRole('button', { name: /^Open records of / }).first().click();
      await region(page).locator('tr[data-document]').first().waitFor();
      await region(page).locator('tr[data-document]').first().getByRole('button', { name: /^Open / }).click();
      await region(page).locator('[data-testid="viewer"][data-phase="shown"]').waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name}: the page is ${overflow}px wider than the screen`);
      await h.checkPage(t, page, name);
      await page.context().close();
    }
  });
});

describe('doctors', () => {
  test("the current doctor opens Maria's records, and her open access log shows the reads by itself", async (t) => {
    const okafor = who('Okafor');
    // Maria's page is open first: the doctor's reads appear in her log without a click (live refresh).
    const maria = await patientPage();
    const log = documents(maria.page).getByRole('region', { name: 'Who read what' });
    await log.getByRole('table').waitFor();
    const reads = log.locator(`tr[data-actor="${lower(okafor.address)}"][data-action="read"][data-outcome="allowed"]`);
    const before = await reads.count();

    const { page, region, list } = await doctorWithMaria('Okafor');
    assert.equal(await list.locator(`tr[data-type="${BEHAVIORAL}"]`).count(), 0, 'the hidden note is withheld');
    await list.locator(`tr[data-type="${OWN_NOTE}"]`).waitFor();
    await list.locator(`tr[data-type="${INTAKE}"]`).getByRole('button', { name: /^Open / }).click();
    await region.getByTestId('viewer').locator('pre').getByText('Essential hypertension').waitFor();
    await h.checkPage(t, page, 'doctor-records');
    t.diagnostic(`screenshot ${await shot(page, 'doctor-records-section', region)}`);

    await maria.page.waitForFunction(
      ([sel, n]) => document.querySelectorAll(sel).length > n,
      [`tr[data-actor="${lower(okafor.address)}"][data-action="read"][data-outcome="allowed"]`, before],
      { timeout: 25_000 },
    );
    assert.match(await reads.first().textContent(), /opened History and physical note.*her consent \(consent of block \d+\)/);
    await log.locator(`tr[data-actor="${lower(okafor.address)}"][data-action="search"]`).first().waitFor();
    await page.context().close();
    await maria.page.context().close();
  });

  test('a doctor with an "Add records" grant uploads into the patient\'s episode from the browser; anchored, listed, hers to open', async () => {
    const okafor = who('Okafor');
    const { page, region, list } = await doctorWithMaria('Okafor');
    const seen = watchMarker(page);
    const before = (await h.view('RecordAnchors', 'episodeOf', [1n])).recordCount;
    const upload = region.locator('.upload');
    await upload.getByLabel('Episode').selectOption('1');
    await upload.getByLabel('Kind of document').selectOption(IMMUNIZATIONS);
    await upload.getByLabel(/^File/).setInputFiles({ name: 'vaccines.txt', mimeType: 'text/plain', buffer: Buffer.from(`Influenza vaccine given. ${MARKER}\n`) });
    await upload.getByRole('button', { name: 'Upload and anchor' }).click();
    await upload.getByText(/^Anchor Immunization history: confirmed in block \d+/).waitFor();
    assert.deepEqual(seen, ['POST /fhir/Binary'], 'the document went to the vault once, and nowhere else');
    // Anchored by the doctor in Maria's episode 1: on chain, in his list, and in hers (anchored, by him).
    assert.equal((await h.view('RecordAnchors', 'episodeOf', [1n])).recordCount, before + 1);
    await list.locator(`tr[data-type="${IMMUNIZATIONS}"]`).waitFor();
    const mine = await patientPage();
    const row = documents(mine.page).locator(`tr[data-type="${IMMUNIZATIONS}"]`);
    await row.locator('td[data-anchor="anchored"]').waitFor({ timeout: 20_000 });
    await row.getByRole('button', { name: /^Open / }).click();
    await documents(mine.page).getByTestId('viewer').locator('pre').getByText(MARKER).waitFor();
    const write = documents(mine.page).getByRole('region', { name: 'Who read what' }).locator(`tr[data-actor="${lower(okafor.address)}"][data-action="write"][data-outcome="allowed"]`);
    await documents(mine.page).getByRole('region', { name: 'Who read what' }).getByRole('button', { name: 'Refresh', exact: true }).click();
    await write.first().waitFor();
    await page.context().close();
    await mine.page.context().close();
  });

  test('a doctor without a grant from the patient is refused with a sentence', async () => {
    const { page } = await h.open(who('Haddad'), '/doctor');
    const region = records(page);
    await signIn(region);
    await region.getByLabel("Another patient's address").fill(who('Maria').address);
    await region.getByRole('button', { name: 'Open records', exact: true }).click();
    await region.getByTestId('records-refused').getByText('Refused: the patient has not granted you access to her records.').waitFor();
    await page.context().close();
  });

  test('the revoked (and suspended) doctor is refused with a sentence', async () => {
    const { page } = await h.open(who('Lindqvist'), '/doctor');
    const region = records(page);
    await signIn(region);
    await region.getByLabel("Another patient's address").fill(who('Maria').address);
    await region.getByRole('button', { name: 'Open records', exact: true }).click();
    // The vault checks the license before the consent: the registrar suspended her in the story.
    await region.getByTestId('records-refused').getByText('Refused: your license is suspended by the registrar.').waitFor();
    await page.context().close();
  });

  test('a record the patient hides is withheld from her doctor at once', async () => {
    const doctor = await doctorWithMaria('Okafor');
    const note = doctor.list.locator(`tr[data-type="${OWN_NOTE}"]`);
    await note.waitFor();
    const { page } = await patientPage();
    const row = documents(page).locator(`tr[data-type="${OWN_NOTE}"]`);
    await row.getByRole('button', { name: /^Hide Patient's own note/ }).click();
    await documents(page).getByText(/^Hide record \d+: confirmed in block \d+/).waitFor();
    await row.locator('td[data-hidden="true"]').waitFor();
    const index = Number((await row.locator('td[data-anchor]').textContent()).match(/record (\d+)/)[1]);
    assert.equal(await h.view('RecordAnchors', 'isRecordHidden', [1n, index]), true);

    // The doctor's list was loaded before: opening it now is refused, and it is gone after a reload.
    await note.getByRole('button', { name: /^Open / }).click();
    await doctor.region.getByTestId('viewer-refused').getByText('Refused: the patient has hidden this record from the people she shares her records with.').waitFor();
    await doctor.region.getByRole('button', { name: 'Reload the list' }).click();
    await note.waitFor({ state: 'detached' });
    await doctor.page.context().close();
    await page.context().close();
  });

  test("after the patient revokes a doctor in the browser, the doctor's next open is refused", async () => {
    const okafor = who('Okafor');
    const doctor = await doctorWithMaria('Okafor');
    const { page } = await patientPage();
    const access = page.getByRole('region', { name: 'Who has access now' });
    await access.getByRole('button', { name: `Revoke ${okafor.address}` }).click();
    await access.getByText(/confirmed in block \d+/).waitFor();
    // Indexed (the page's live update comes from the index the vault decides on).
    await access.locator(`tr[data-grantee="${lower(okafor.address)}"]`).waitFor({ state: 'detached' });

    await doctor.list.locator(`tr[data-type="${INTAKE}"]`).getByRole('button', { name: /^Open / }).click();
    await doctor.region.getByTestId('viewer-refused').getByText('Refused: the patient has revoked your access.').waitFor();
    // The refusal is in her log, with its reason.
    const log = documents(page).getByRole('region', { name: 'Who read what' });
    const denied = log.locator(`tr[data-actor="${lower(okafor.address)}"][data-action="read"][data-outcome="denied"]`);
    await log.getByRole('button', { name: 'Refresh', exact: true }).click();
    await denied.first().getByText(/consent revoked/).waitFor();
    await doctor.page.context().close();
    await page.context().close();
  });

  test('an access that expired by chain time is refused with a sentence', async () => {
    const [maria, james] = ['Maria', 'James'].map(who);
    const rpc = (method, params = []) =>
      fetch(h.stack.rpc, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) }).then((r) => r.json());
    const now = Number((await rpc('eth_getBlockByNumber', ['latest', false])).result.timestamp);
    await h.sendAs(maria, 'ConsentRegistry', 'grant', [james.address, 1, now + 86_400]);
    const { page } = await h.open(james, '/doctor');
    const region = records(page);
    await signIn(region);
    const list = region.locator(`[data-patient="${lower(maria.address)}"]`);
    await region.getByLabel("Another patient's address").fill(maria.address);
    await region.getByRole('button', { name: 'Open records', exact: true }).click();
    await list.locator(`tr[data-type="${INTAKE}"]`).waitFor();
    // Two days later on chain (the last test of the file: chain time only moves forward).
    await rpc('evm_increaseTime', [2 * 86_400]);
    await rpc('evm_mine');
    const head = Number((await rpc('eth_blockNumber')).result);
    await page.waitForFunction(
      async (block) => {
        const r = await fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ indexerStatus { indexedBlock } }' }) });
        return (await r.json()).data.indexerStatus.indexedBlock >= block;
      },
      head,
      { polling: 200, timeout: 20_000 },
    );
    await list.locator(`tr[data-type="${INTAKE}"]`).getByRole('button', { name: /^Open / }).click();
    await region.getByTestId('viewer-refused').getByText('Refused: your access from this patient has expired.').waitFor();
    await page.context().close();
  });
});
