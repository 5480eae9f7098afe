// No clinical content leaves the browser (issue 20): while a doctor writes, signs and issues a prescription
// and a pharmacy verifies and dispenses it, every HTTP request the pages send (URL and body), every WebSocket
// frame (sent and received), every wallet request that reaches the chain (the transactions, calls) and the
// server's own logs (at debug level) are searched for the prescription's clinical content: drug text, the
// RxNorm display name, strength, dosage instructions, the patient's name and identifier, and the salt — as
// text, URL-encoded, hex (calldata) and base64. The pharmacy's verifyPrescription sends exactly the id, the
// content hash and its own address. The API given the content itself (as `medledger rx verify` sends it) uses
// it for the answer only: its logs still hold none of it.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { connect, interactive, openPage } from './support/browser.mjs';
import { harness } from './support/harness.mjs';
import { root } from './support/stack.mjs';
import { OXYCODONE, fillPrescription, gql, indexed, signAndSend } from './support/rx.mjs';

let stack;
// Debug logging for this file's stack: whatever the server might log about a request is in stack.logs().
const h = harness((x) => ({ stack } = x), { rustLog: 'debug' });

const tmp = mkdtempSync(join(tmpdir(), 'medledger-privacy-web-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Everything that left the pages: [where, text] pairs. */
const sent = [];
/** Every GraphQL operation the pages sent over HTTP: { operationName, query, variables }. */
const operations = [];

/** Opens `path` as `who`, recording every request, its body and every WebSocket frame from the first byte. */
async function openRecorded(who, path) {
  const w = h.wallet(who);
  const page = await openPage(h.browser, stack, { wallet: w });
  page.on('request', (r) => {
    const body = r.postDataBuffer();
    sent.push([`${r.method()} ${r.url()}`, `${r.url()}\n${body ? body.toString('latin1') : ''}`]);
    if (body && new URL(r.url()).pathname === '/graphql') {
      try {
        const op = JSON.parse(body.toString('utf8'));
        for (const o of Array.isArray(op) ? op : [op]) operations.push(o);
      } catch {
        /* not JSON: searched as text anyway */
      }
    }
  });
  page.on('websocket', (ws) => {
    sent.push([`websocket ${ws.url()}`, ws.url()]);
    ws.on('framesent', (f) => sent.push([`frame sent ${ws.url()}`, String(f.payload)]));
    ws.on('framereceived', (f) => sent.push([`frame received ${ws.url()}`, String(f.payload)]));
  });
  await page.goto(stack.url + path);
  await connect(page, w);
  await interactive(page);
  return { page, w };
}

/**
 * The forms a string takes on the wire: itself, URL-encoded, hex of its UTF-8 (calldata, 0x-JSON) and base64
 * at each of the three byte alignments (the middle of the encoding, which does not depend on its neighbours).
 */
function encodings(s) {
  const bytes = Buffer.from(s, 'utf8');
  const out = [s, encodeURIComponent(s), bytes.toString('hex')];
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    const core = b64.slice(k ? 4 : 0, -4);
    if (core.length >= 8) out.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return out;
}

/** Where each of `secrets` (name → value) occurs, in any of its encodings, in `haystacks` ([where, text]). */
function leaks(secrets, haystacks) {
  const found = [];
  for (const [name, value] of Object.entries(secrets)) {
    for (const form of encodings(value)) {
      const caseless = /^[0-9a-f]+$/i.test(form) || form === value;
      for (const [where, text] of haystacks) {
        const hit = caseless ? text.toLowerCase().includes(form.toLowerCase()) : text.includes(form);
        if (hit) found.push(`${name} (${form === value ? 'as text' : form}) in ${where}`);
      }
    }
  }
  return [...new Set(found)];
}

describe('no clinical content leaves the browser', () => {
  const doc = {
    drug: 'Roxicodone oxycodone HCl',
    strength: '5 mg',
    dosage: 'Take one tablet by mouth every six hours only as needed for severe pain',
    patientName: 'Josefina Quintanilla-Ruiz',
    patientIdentifier: 'MRN-PRIV-77031',
  };
  // The RxNorm display name of the code, as the bundled controlled-substance table names it.
  const display = readFileSync(join(root, 'core/data/controlled_substances.tsv'), 'utf8')
    .split('\n')
    .map((l) => l.split('\t'))
    .find((c) => c[0] === OXYCODONE)[2];
  let secrets;
  let issued;

  test('the doctor writes, signs and issues; the pharmacy verifies and dispenses: nothing clinical in any request, frame, transaction or log', async (t) => {
    const [okafor, maria, bayview] = ['Okafor', 'Maria', 'Bayview'].map(stack.who);
    const doctor = await openRecorded(okafor, '/doctor/prescribe');
    await fillPrescription(doctor.page, { patient: maria.address, rxnorm: OXYCODONE, ...doc, quantity: 12, unit: 'tablet', daysSupply: 3, pharmacy: bayview.address });
    await doctor.page.getByTestId('table-hint').getByText(display, { exact: false }).waitFor();
    issued = await signAndSend(doctor.page, doctor.w, 'issue', tmp);
    const copy = JSON.parse(readFileSync(issued.copyPath, 'utf8'));
    assert.ok(/^0x[0-9a-f]{64}$/.test(copy.salt), 'the patient copy holds the salt');
    // The signed content is the document's (so the strings searched for are the ones that were at stake).
    const content = issued.typed.message.content;
    assert.deepEqual(
      [content.drugName, content.strength, content.dosageInstructions, content.patientName, content.patientIdentifier, content.rxnormCode, content.salt],
      [doc.drug, doc.strength, doc.dosage, doc.patientName, doc.patientIdentifier, OXYCODONE, copy.salt],
    );
    secrets = {
      'drug text': doc.drug,
      'RxNorm display name': display,
      'strength and drug': `${doc.drug} ${doc.strength}`,
      'dosage instructions': doc.dosage,
      "patient's name": doc.patientName,
      "patient's identifier": doc.patientIdentifier,
      salt: copy.salt,
      'salt without 0x': copy.salt.slice(2),
    };
    await doctor.page.context().close();
    await indexed(stack.url, issued.rxId);

    const pharmacy = await openRecorded(bayview, '/pharmacy');
    await pharmacy.page.getByLabel('Or paste the code (MEDRX2:…) or the patient copy').fill(issued.code);
    await pharmacy.page.getByRole('button', { name: 'Read the prescription' }).click();
    const verify = pharmacy.page.getByRole('region', { name: 'Verification' });
    // The page shows the content (it is in the code the patient handed over)…
    await verify.getByText(`For ${doc.patientName} (${doc.patientIdentifier})`, { exact: false }).waitFor();
    await verify.getByText(/up to 12 tablet now/).waitFor();
    await verify.getByRole('button', { name: 'Dispense' }).click();
    await verify.getByText(/Dispense 12 tablet: confirmed in block \d+/).waitFor();
    await verify.locator('[data-reason="NOTHING_LEFT"]').waitFor();
    await pharmacy.page.context().close();

    // …and sends none of it: what verifyPrescription was asked is the id, the content hash and the pharmacy.
    const asked = operations.filter((o) => /verifyPrescription/.test(o.query));
    assert.ok(asked.length >= 1, 'the pharmacy asked verifyPrescription');
    for (const o of asked) {
      assert.doesNotMatch(o.query, /content\s*:/, 'no content argument');
      assert.deepEqual(Object.keys(o.variables).sort(), ['contentHash', 'id', 'pharmacy']);
      assert.deepEqual(o.variables, { id: issued.rxId, contentHash: copy.contentHash, pharmacy: bayview.address });
    }
    // No request names a content field or carries the RxNorm code as a value.
    const fields = sent.filter(([, text]) => /rxnormCode|drugName|dosageInstructions|patientName|patientIdentifier|"1049621"|=1049621\b/.test(text)).map(([where]) => where);
    assert.deepEqual(fields, [], 'requests naming clinical fields or the RxNorm code');
    assert.ok(sent.some(([where]) => where.startsWith('frame sent')), 'WebSocket frames were recorded');

    // Every wallet request that reaches the chain (not eth_signTypedData_v4: the wallet shows the prescriber
    // the readable prescription, locally, and the chain sees only its hash).
    const wallet = [...doctor.w.log, ...pharmacy.w.log]
      .filter((r) => r.method !== 'eth_signTypedData_v4')
      .map((r) => [`wallet ${r.method}`, JSON.stringify(r.params)]);
    assert.ok(wallet.some(([w]) => w === 'wallet eth_sendTransaction'), 'transactions were recorded');
    assert.deepEqual(leaks(secrets, [...sent, ...wallet, ['server logs', stack.logs()]]), []);
    assert.match(stack.logs(), /DEBUG/, 'the server logged at debug level');
    t.diagnostic(`searched ${sent.length} requests and frames, ${wallet.length} wallet requests, ${stack.logs().split('\n').length} server log lines`);
  });

  test('the API given the content itself (as `medledger rx verify` sends it) logs none of it', async () => {
    const bayview = stack.who('Bayview');
    const c = issued.typed.message.content;
    const content = { ...c, quantity: Number(c.quantity) };
    const q = `query($id: Bytes32!, $h: Bytes32, $c: PrescriptionContentInput!, $p: Address!) {
      verifyPrescription(id: $id, contentHash: $h, content: $c, pharmacy: $p) { valid contentHashProven failures { reason } } }`;
    const r = await gql(stack.url, q, { id: issued.rxId, c: content, p: bayview.address });
    assert.equal(r.verifyPrescription.contentHashProven, true);
    // A content that does not match the hash given with it: refused, without echoing the content.
    await assert.rejects(gql(stack.url, q, { id: issued.rxId, h: `0x${'ab'.repeat(32)}`, c: content, p: bayview.address }), /hashes to 0x[0-9a-f]{64}, not to the `contentHash`/);
    await new Promise((ok) => setTimeout(ok, 500));
    assert.deepEqual(leaks(secrets, [['server logs', stack.logs()]]), []);
  });
});
