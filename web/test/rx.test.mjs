// Browser tests of prescriptions against the real stack (`medledger dev`, headless Chromium, test wallets
// signing with anvil's keys): the doctor's form, review, signature, issue or relay; the pharmacy reading the
// code from a (fake) camera, a paste or the patient's copy, verifying and dispensing; the patient's page.
// The ids and codes the browser computes are checked against `medledger rx` itself.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import * as esbuild from 'esbuild';
import { interactive, launch, openPage, connect, record } from './support/browser.mjs';
import { harness } from './support/harness.mjs';
import { root } from './support/stack.mjs';
import { AMOXICILLIN, OXYCODONE, fillPrescription as fill, indexed as indexedAt, signAndSend as signAndSendTo, y4mOfPageQr } from './support/rx.mjs';

const run = promisify(execFile);
let stack;
const h = harness((x) => ({ stack } = x));
const { open, checkPage, view } = h;

const tmp = mkdtempSync(join(tmpdir(), 'medledger-rx-web-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const indexed = (id, fields) => indexedAt(stack.url, id, fields);
const signAndSend = (page, w, mode) => signAndSendTo(page, w, mode, tmp);
const bin = process.env.MEDLEDGER_BIN ?? join(root, 'target', 'debug', 'medledger');

/** The browser's rx modules (web/src/rx/copy.ts and what it imports), bundled for Node. */
async function rxModule() {
  const out = join(tmp, 'rx-copy.mjs');
  await esbuild.build({ entryPoints: [join(root, 'web/src/rx/copy.ts')], bundle: true, format: 'esm', platform: 'node', outfile: out, logLevel: 'warning' });
  return import(pathToFileURL(out).href);
}

/** `medledger rx …`; returns stdout (and the exit code when `allowFail`). */
async function medledgerRx(args, { allowFail = false } = {}) {
  try {
    const { stdout } = await run(bin, ['rx', ...args], { cwd: tmp, env: { ...process.env, NO_COLOR: '1' } });
    return { stdout, code: 0 };
  } catch (e) {
    if (!allowFail || e.code == null || typeof e.code !== 'number') throw new Error(`medledger rx ${args.join(' ')}: ${e.stderr || e.message}`);
    return { stdout: `${e.stdout}${e.stderr}`, code: e.code };
  }
}

describe('the browser computes what medledger rx computes', () => {
  test('patient copies made by the CLI parse here to the same rxId, content hash and MEDRX2 code', async () => {
    const rx = await rxModule();
    const manifest = join(tmp, 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ chainId: 31337, deployBlock: 0, contracts: { CredentialRegistry: '0x5FbDB2315678afecb367f032d93F642f64180aa3', ConsentRegistry: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512', RecordAnchors: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0', Prescriptions: '0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9' } }));
    for (const name of ['amoxicillin', 'oxycodone']) {
      const { stdout } = await medledgerRx(['new', join(root, 'examples/rx', `${name}.json`), '--manifest', manifest, '--out', join(tmp, name), '--salt', `0x${'5a'.repeat(32)}`, '--nonce', '7', '--force']);
      const cliId = stdout.match(/^prescription\s+(0x[0-9a-f]{64})/m)[1];
      const cliHash = stdout.match(/^content hash\s+(0x[0-9a-f]{64})/m)[1];
      const text = readFileSync(join(tmp, `${name}.patient.json`), 'utf8');
      const code = readFileSync(join(tmp, `${name}.code.txt`), 'utf8').trim();
      const { copy, ticket } = rx.parseCopy(text);
      assert.equal(copy.rxId, cliId);
      // Recomputed in the browser's code, not read from the file.
      const made = rx.makeCopy(copy.medicationRequest, copy.chainId, copy.prescriptions, copy.salt, BigInt(copy.nonce));
      assert.equal(made.copy.rxId, cliId, `${name}: rxId`);
      assert.equal(made.copy.contentHash, cliHash, `${name}: content hash`);
      assert.equal(rx.toCode(ticket), code, `${name}: the MEDRX2 code, byte for byte`);
      assert.deepEqual(rx.fromCode(code), ticket);
    }
    // Damage is refused with the CLI's words.
    const code = readFileSync(join(tmp, 'oxycodone.code.txt'), 'utf8').trim();
    const i = Math.floor(code.length / 2);
    assert.throws(() => rx.fromCode(code.slice(0, i) + (code[i] === 'A' ? 'B' : 'A') + code.slice(i + 1)), /checksum mismatch/);
    assert.throws(() => rx.fromCode(code.replace('MEDRX2:', 'MEDRX9:')), /unsupported version MEDRX9/);
    const altered = readFileSync(join(tmp, 'amoxicillin.patient.json'), 'utf8').replace('"value": 30', '"value": 300');
    assert.throws(() => rx.parseCopy(altered), /altered: its contentHash/);
  });
});

describe('prescriptions in the browser', () => {
  let amox;

  test('the doctor writes, reviews, signs and issues; the pharmacy scans the QR with the camera, verifies and dispenses; the patient sees it live', async (t) => {
    const [okafor, maria, mission] = ['Okafor', 'Maria', 'Mission'].map(stack.who);
    const { page, w } = await open(okafor, '/doctor/prescribe');
    await fill(page, { patient: maria.address, rxnorm: AMOXICILLIN, drug: 'Amoxicillin', strength: '500 mg', quantity: 21, unit: 'capsule', fills: 2, intervalDays: 7, pharmacy: mission.address });
    await page.getByTestId('table-hint').getByText(/not controlled/).waitFor();
    await checkPage(t, page, 'doctor-prescribe');
    const issued = await signAndSend(page, w, 'issue');
    amox = issued;
    await checkPage(t, page, 'doctor-prescribe-signed');
    await page.context().close();

    // The chain knows it under the id the browser computed; the API indexes it.
    const [state] = await view('Prescriptions', 'prescriptionOf', [issued.rxId]);
    assert.equal(state.fills, 2);
    assert.equal((await indexed(issued.rxId)).prescriber, okafor.address);
    // `medledger rx` reads the browser's patient copy and code: same id, and dispensable by Mission Street.
    for (const input of [issued.copyPath, issued.code]) {
      const { stdout, code } = await medledgerRx(['verify', input, '--api.url', stack.url], { allowFail: true });
      assert.match(stdout, new RegExp(`^prescription\\s+${issued.rxId}`, 'm'));
      assert.match(stdout, /DISPENSABLE\s+up to 21 capsule/, stdout);
      assert.equal(code, 0);
    }

    // The patient's page, open before the dispense; she loads her copy and sees the code.
    const patient = await open(maria, '/patient');
    const row = patient.page.getByRole('region', { name: 'Your prescriptions' }).locator(`tr[data-rx="${issued.rxId}"]`);
    await row.getByText('2 of 2').waitFor();
    const codes = patient.page.getByRole('region', { name: 'Show a prescription to the pharmacy' });
    await codes.getByLabel('Your prescription file (patient copy)').setInputFiles(issued.copyPath);
    await codes.getByTestId('loaded-status').getByText(/2 of 2 fills left/).waitFor();
    const qr = codes.getByRole('img', { name: 'QR code of your prescription' });
    assert.equal(await qr.getAttribute('data-code'), issued.code);

    // The pharmacy's (fake) camera films the QR code the patient's page shows.
    const camera = await launch({ camera: await y4mOfPageQr(qr, join(tmp, 'amox.y4m')) });
    try {
      const pharmacy = await open(mission, '/pharmacy', { browser: camera });
      await pharmacy.page.getByRole('button', { name: 'Scan the QR code with the camera' }).click();
      const verify = pharmacy.page.getByRole('region', { name: 'Verification' });
      await verify.getByTestId('verify-rx-id').getByText(issued.rxId).waitFor({ timeout: 30_000 });
      await verify.locator('[data-testid="verdict"][data-valid="true"]').getByText('Dispensable').waitFor();
      await verify.getByText(/up to 21 capsule now/).waitFor();
      await checkPage(t, pharmacy.page, 'pharmacy-verified');
      await verify.getByRole('button', { name: 'Dispense' }).click();
      await verify.getByText(/Dispense 21 capsule: confirmed in block \d+/).waitFor();
      // The patient's page follows without a reload; so do the pharmacy's history and verdict.
      await row.getByText('1 of 2').waitFor();
      await pharmacy.page.getByRole('region', { name: 'Dispensed here' }).locator(`tr[data-dispense="${issued.rxId}"]`).waitFor();
      await verify.getByRole('alert').locator('[data-reason="FILL_INTERVAL_NOT_ELAPSED"]').waitFor();
      await checkPage(t, pharmacy.page, 'pharmacy');
      await pharmacy.page.context().close();
    } finally {
      await camera.close();
    }
    await checkPage(t, patient.page, 'patient-prescription-code');
    const [after, total] = await view('Prescriptions', 'prescriptionOf', [issued.rxId]);
    assert.equal(after.fillsUsed, 1);
    assert.equal(total, 21n);
    await patient.page.context().close();
  });

  test('a schedule II partial fill: pasted code, 8 then 12 of 20 tablets', async () => {
    const [okafor, maria, bayview] = ['Okafor', 'Maria', 'Bayview'].map(stack.who);
    const doctor = await open(okafor, '/doctor/prescribe');
    await fill(doctor.page, { patient: maria.address, rxnorm: OXYCODONE, drug: 'Oxycodone hydrochloride', strength: '5 mg', dosage: '1 tablet every 6 hours as needed', quantity: 20, unit: 'tablet', daysSupply: 5, pharmacy: bayview.address });
    assert.equal(await doctor.page.getByLabel('Controlled-substance schedule').inputValue(), '2', 'the schedule follows the table');
    const oxy = await signAndSend(doctor.page, doctor.w, 'issue');
    assert.equal(oxy.typed.message.schedule, 2);
    await doctor.page.context().close();
    await indexed(oxy.rxId);

    const { page } = await open(bayview, '/pharmacy');
    // This browser has no camera: the pharmacist is told so, and how else to read the code.
    await page.getByRole('button', { name: 'Scan the QR code with the camera' }).click();
    await page.getByRole('alert').getByText(/(No camera was found|The camera was not allowed).*paste/).waitFor();
    await page.getByRole('button', { name: 'Stop the camera' }).click();
    await page.getByLabel('Or paste the code (MEDRX2:…) or the patient copy').fill(oxy.code);
    await page.getByRole('button', { name: 'Read the prescription' }).click();
    const verify = page.getByRole('region', { name: 'Verification' });
    await verify.getByText(/up to 20 tablet now/).waitFor();
    await verify.getByLabel(/Units to dispense/).fill('8');
    // Short of stock: the balance is then due within 72 hours (21 CFR 1306.13(a)).
    await verify.getByLabel(/We are short/).check();
    await verify.getByRole('button', { name: 'Dispense' }).click();
    await verify.getByText(/Dispense 8 tablet: confirmed in block \d+/).waitFor();
    await verify.getByText(/up to 12 tablet now/).waitFor();
    await verify.getByTestId('short-supply').waitFor();
    const due = await indexed(oxy.rxId, 'shortSupplyUntil dispenses { timestamp }');
    assert.equal(Date.parse(due.shortSupplyUntil) - Date.parse(due.dispenses[0].timestamp), 72 * 3600 * 1000);
    await verify.getByLabel(/Units to dispense/).fill('12');
    await verify.getByRole('button', { name: 'Dispense' }).click();
    await verify.getByText(/Dispense 12 tablet: confirmed in block \d+/).waitFor();
    await verify.locator('[data-reason="NOTHING_LEFT"]').waitFor();
    const [state, total] = await view('Prescriptions', 'prescriptionOf', [oxy.rxId]);
    assert.equal(total, 20n);
    assert.equal(state.fillsUsed, 1);
    const history = await indexed(oxy.rxId, 'dispenses { quantity fillNumber }');
    assert.deepEqual(history.dispenses, [{ quantity: 8, fillNumber: 1 }, { quantity: 12, fillNumber: 1 }]);
    await page.context().close();
  });

  test('a relayed prescription: the doctor only signs, the clinic relayer issues it', async () => {
    const [okafor, maria, relayer] = ['Okafor', 'Maria', 'relayer'].map(stack.who);
    const doctor = await open(okafor, '/doctor/prescribe');
    await fill(doctor.page, { patient: maria.address, rxnorm: AMOXICILLIN, drug: 'Amoxicillin', strength: '250 mg', quantity: 15, unit: 'capsule' });
    const signed = await signAndSend(doctor.page, doctor.w, 'relay');
    assert.equal(doctor.w.log.filter((x) => x.method === 'eth_sendTransaction').length, 0, 'the doctor sent no transaction');
    assert.equal(signed.bundle.rxId, signed.rxId);
    await doctor.page.context().close();

    const { page } = await open(relayer, '/doctor/prescribe');
    const relay = page.getByRole('region', { name: 'Relay a signed prescription' });
    await relay.getByLabel('Signed prescription (JSON from the prescriber)').fill(JSON.stringify(signed.bundle));
    await relay.getByRole('button', { name: 'Relay it' }).click();
    await relay.getByText(/Relay the prescription: confirmed in block \d+/).waitFor();
    const rx = await indexed(signed.rxId);
    assert.deepEqual([rx.prescriber, rx.relayer, rx.relayed], [okafor.address, relayer.address, true]);
    // Relayed twice: the contract's sentence, before anything is sent.
    await relay.getByLabel('Signed prescription (JSON from the prescriber)').fill(JSON.stringify(signed.bundle));
    await relay.getByRole('button', { name: 'Relay it' }).click();
    await relay.getByRole('alert').getByText(`prescription ${signed.rxId} is already issued`).waitFor();

    // A signature the prescriber withdrew before it was relayed no longer works (issue 19, point 4).
    const again = await open(okafor, '/doctor/prescribe');
    await fill(again.page, { patient: maria.address, rxnorm: AMOXICILLIN, drug: 'Amoxicillin', strength: '250 mg', quantity: 10, unit: 'capsule' });
    const withdrawn = await signAndSend(again.page, again.w, 'relay');
    const withdraw = again.page.getByRole('region', { name: 'Signed prescriptions not yet relayed' });
    await withdraw.getByRole('button', { name: 'Withdraw unrelayed signatures' }).click();
    await withdraw.getByText(/Withdraw unrelayed signatures: confirmed in block \d+/).waitFor();
    await again.page.context().close();
    await relay.getByLabel('Signed prescription (JSON from the prescriber)').fill(JSON.stringify(withdrawn.bundle));
    await relay.getByRole('button', { name: 'Relay it' }).click();
    await relay.getByRole('alert').getByText(`the prescriber ${okafor.address} withdrew signatures with nonces below`).waitFor();
    await page.context().close();

    // The patient cancels the relayed one herself: her copy proves the terms (issue 19, point 3).
    const patient = await open(maria, '/patient');
    const codes = patient.page.getByRole('region', { name: 'Show a prescription to the pharmacy' });
    await codes.getByLabel('Your prescription file (patient copy)').setInputFiles(signed.copyPath);
    await codes.getByRole('button', { name: 'Cancel this prescription' }).click();
    await codes.getByText(/Cancel this prescription: confirmed in block \d+/).waitFor();
    await codes.getByTestId('loaded-status').getByText(/Status: cancelled/).waitFor();
    assert.equal((await indexed(signed.rxId, 'cancelledBy')).cancelledBy, 'patient');
    await patient.page.context().close();
  });

  test('a schedule that contradicts the table is refused, by the form and by the pharmacy', async () => {
    const [okafor, maria, mission] = ['Okafor', 'Maria', 'Mission'].map(stack.who);
    const { page, w } = await open(okafor, '/doctor/prescribe');
    const form = await fill(page, { patient: maria.address, rxnorm: OXYCODONE, drug: 'Oxycodone', strength: '5 mg', quantity: 60, unit: 'tablet', fills: 12, schedule: 0, pharmacy: mission.address });
    await form.getByRole('button', { name: 'Review' }).click();
    const reason = 'RxNorm 1049621 (oxycodone hydrochloride 5 MG Oral Tablet) is schedule II in the controlled-substance table 2026-12-04.1, but the prescription declares it not controlled';
    await form.getByTestId('refusals').getByText(`Schedule refused: ${reason}.`).waitFor();
    assert.equal(w.log.filter((x) => x.method === 'eth_signTypedData_v4').length, 0, 'nothing was signed');

    // A rejected signature is said plainly.
    await form.getByLabel('Controlled-substance schedule').selectOption('2');
    await form.getByLabel('Fills (1 = no refills)', { exact: true }).fill('1');
    await form.getByLabel("Days' supply (how long one fill lasts; required for a controlled substance)").fill('15');
    await page.getByRole('button', { name: 'Review' }).click();
    w.rejectNext = true;
    await page.getByRole('button', { name: 'Sign and issue' }).click();
    await page.getByRole('region', { name: 'Review before signing' }).getByRole('alert').getByText('You declined the request in your wallet.').waitFor();
    await page.context().close();

    // A code whose schedule contradicts the table (made outside the form): the pharmacy is told why.
    const rx = await rxModule();
    const ticket = rx.fromCode(amox.code);
    ticket.prescription.content.rxnormCode = OXYCODONE;
    const pharmacy = await open(mission, '/pharmacy');
    await pharmacy.page.getByLabel('Or paste the code (MEDRX2:…) or the patient copy').fill(rx.toCode(ticket));
    await pharmacy.page.getByRole('button', { name: 'Read the prescription' }).click();
    const reasons = pharmacy.page.getByRole('region', { name: 'Verification' }).getByTestId('reasons');
    await reasons.locator('[data-reason="SCHEDULE_MISMATCH"]').getByText(reason, { exact: false }).waitFor();
    await reasons.locator('[data-reason="UNKNOWN_PRESCRIPTION"]').waitFor();
    // A damaged code is refused before anything is asked.
    await pharmacy.page.getByLabel('Or paste the code (MEDRX2:…) or the patient copy').fill(amox.code.slice(0, -3));
    await pharmacy.page.getByRole('button', { name: 'Read the prescription' }).click();
    await pharmacy.page.getByRole('region', { name: "The patient's prescription" }).getByRole('alert').getByText(/not a readable prescription: (checksum mismatch|not base64url)/).waitFor();
    await pharmacy.page.context().close();
  });

  test('the doctor sees what was dispensed and cancels a prescription', async (t) => {
    const okafor = stack.who('Okafor');
    const { page } = await open(okafor, '/doctor');
    const row = page.getByRole('region', { name: 'Prescriptions you issued' }).locator(`tr[data-rx="${amox.rxId}"]`);
    await row.getByText(/21 \(fill 1\) by/).waitFor();
    await row.getByRole('button', { name: `Cancel prescription ${amox.rxId.slice(0, 10)}` }).click();
    await page.getByText(/Cancel .*: confirmed in block \d+/).waitFor();
    await row.locator('[data-status="CANCELLED"]').waitFor();
    await checkPage(t, page, 'doctor-issued-cancelled');
    // The pharmacy's verification now says so, in the CLI as in the page.
    const { stdout, code } = await medledgerRx(['verify', amox.copyPath, '--api.url', stack.url], { allowFail: true });
    assert.notEqual(code, 0);
    assert.match(stdout, /NOT DISPENSABLE[\s\S]*CANCELLED/, stdout);
    await page.context().close();
  });
});

describe('measured (not asserted)', () => {
  test('load-to-interactive of the prescribe and pharmacy pages, a returning user, median of 3; on-demand parts', async (t) => {
    const build = await (await fetch(`${stack.url}/web-build.json`)).json();
    for (const [name, p] of Object.entries(build.lazy ?? {})) {
      record(`size.lazy.${name}`, { jsGzip: p.jsGzip });
      t.diagnostic(`${name} (on demand): ${p.jsGzip} bytes gzip`);
    }
    for (const [name, path, who] of [
      ['prescribe', '/doctor/prescribe', stack.who('Okafor')],
      ['pharmacy', '/pharmacy', stack.who('Mission')],
    ]) {
      const times = [];
      for (let i = 0; i < 3; i++) {
        const w = h.wallet(who);
        const page = await openPage(h.browser, stack, { wallet: w });
        await page.goto(stack.url);
        await connect(page, w);
        await page.goto(stack.url + path);
        times.push(await interactive(page));
        await page.context().close();
      }
      const median = times.sort((a, b) => a - b)[1];
      record(`interactiveMs.${name}`, median);
      t.diagnostic(`${name}: ${median} ms to interactive (${times.join(', ')})`);
    }
  });
});
