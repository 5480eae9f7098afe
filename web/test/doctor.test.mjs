// Browser tests of the doctor's and the patient's pages against the real stack (`medledger dev`, headless
// Chromium, test wallets signing with anvil's keys): break-glass emergency access with a committed
// justification, its cooldown, the patient's block list; the printed prescription after signing.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { bytesToHex, concat, keccak256, stringToBytes, stringToHex } from 'viem';
import { getContractEvents } from 'viem/actions';
import { shot } from './support/browser.mjs';
import { abi, harness, lower } from './support/harness.mjs';
import { AMOXICILLIN, fillPrescription, signAndSend } from './support/rx.mjs';

let stack;
let config;
let chain;
const h = harness((x) => ({ stack, config, chain } = x));
const { open, checkPage, view } = h;

const tmp = mkdtempSync(join(tmpdir(), 'medledger-doctor-web-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const READ = 1;
const sent = (w) => w.log.filter((x) => x.method === 'eth_sendTransaction').length;

/** Fills the doctor's emergency access form and submits it. */
async function openEmergency(page, { patient, reason = '1', hours = '2', justification }) {
  const region = page.getByRole('region', { name: 'Emergency access' });
  await region.getByLabel('Patient account').fill(patient);
  await region.getByLabel('Reason').selectOption(reason);
  await region.getByLabel(/^For \(hours/).fill(hours);
  await region.getByLabel(/^Justification/).fill(justification);
  await region.getByRole('button', { name: 'Open emergency access' }).click();
  return region;
}

describe('emergency access', () => {
  test('the doctor opens it with a committed justification, the patient sees it live and ends it; re-opening within the cooldown is refused', async (t) => {
    const [okafor, chen] = ['Okafor', 'Chen'].map(stack.who);
    const patient = await open(chen, '/patient');
    const access = patient.page.getByRole('region', { name: 'Who has access now' });
    const { page, w } = await open(okafor, '/doctor');
    const region = page.getByRole('region', { name: 'Emergency access' });
    await region.getByText(/Every use is logged on chain, shown to the patient at once and reviewed/).waitFor();

    // Refused in the browser: no reason chosen, no justification.
    await region.getByLabel('Patient account').fill(chen.address);
    await region.getByRole('button', { name: 'Open emergency access' }).click();
    await region.getByRole('alert').getByText('Choose the reason for emergency access.').waitFor();
    assert.equal(sent(w), 0);

    const text = 'Brought in unconscious after a fall; needs her medication list and allergies before surgery.';
    await openEmergency(page, { patient: chen.address, reason: '1', hours: '2', justification: text });
    await region.getByText(new RegExp(`Emergency access to ${chen.address}: confirmed in block \\d+`)).waitFor();

    // The file she keeps: the text, its salt and the hash; keccak256(salt ‖ UTF-8 text) as core's salted_hash.
    const [download] = await Promise.all([page.waitForEvent('download'), region.getByRole('button', { name: 'Download the justification' }).click()]);
    const path = join(tmp, download.suggestedFilename());
    await download.saveAs(path);
    const kept = JSON.parse(readFileSync(path, 'utf8'));
    assert.equal(kept.justification, text);
    assert.equal(kept.reasonCode, 1);
    assert.equal(lower(kept.patient), lower(chen.address));
    assert.equal(lower(kept.grantee), lower(okafor.address));
    assert.match(kept.salt, /^0x[0-9a-f]{64}$/);
    assert.equal(kept.justificationHash, keccak256(concat([kept.salt, bytesToHex(stringToBytes(text))])));
    await region.getByTestId('emergency-opened').getByText(kept.justificationHash).waitFor();
    // The chain holds that hash, the reason and 2 hours; the text went nowhere but the file.
    const [opened] = await getContractEvents(chain, {
      address: config.contracts.ConsentRegistry,
      abi: abi('ConsentRegistry'),
      eventName: 'EmergencyAccessOpened',
      args: { patient: chen.address, grantee: okafor.address },
      fromBlock: 0n,
    });
    assert.equal(opened.args.justificationHash, kept.justificationHash);
    assert.equal(opened.args.reasonCode, 1);
    const grant = await view('ConsentRegistry', 'grantOf', [chen.address, okafor.address]);
    assert.equal(grant.emergencyUntil - grant.emergencyOpenedAt, 2 * 3600);
    assert.equal(await view('ConsentRegistry', 'hasScope', [chen.address, okafor.address, READ]), true);
    const wire = JSON.stringify(w.log);
    assert.ok(!wire.includes(text) && !wire.includes(stringToHex(text).slice(2, 40)), 'the justification text is not sent');

    // Both pages follow without a reload.
    await page.getByRole('region', { name: 'Patients who granted you access' }).locator(`tr[data-patient="${lower(chen.address)}"]`).getByText('emergency read access').waitFor();
    const row = access.locator(`tr[data-grantee="${lower(okafor.address)}"]`);
    await row.getByText('Emergency read access (reason 1: Unconscious or unable to communicate)').waitFor();
    await checkPage(t, patient.page, 'patient-emergency');

    // She ends it.
    await row.getByRole('button', { name: `End emergency access of ${okafor.address}` }).click();
    await access.getByText(/confirmed in block \d+/).waitFor();
    await row.waitFor({ state: 'detached' });
    assert.equal(await view('ConsentRegistry', 'hasScope', [chen.address, okafor.address, READ]), false);

    // Opening it again within the 7-day cooldown: the contract's refusal as a sentence, nothing sent.
    const before = sent(w);
    await openEmergency(page, { patient: chen.address, justification: 'The same patient again, still unconscious in the ICU.' });
    await region
      .getByRole('alert')
      .getByText(new RegExp(`^Emergency access to ${chen.address}: ${okafor.address} cannot open emergency access to ${chen.address}'s records again before \\S+ \\(7 days after the previous one ended\\)$`))
      .waitFor();
    assert.equal(sent(w), before);
    await checkPage(t, page, 'doctor-emergency');
    await page.context().close();
    await patient.page.context().close();
  });

  test('a patient blocks a doctor: opening is refused with the blocked sentence; she unblocks him', async (t) => {
    const [haddad, maria] = ['Haddad', 'Maria'].map(stack.who);
    const patient = await open(maria, '/patient');
    const blocks = patient.page.getByRole('region', { name: 'Blocked from emergency access' });
    await blocks.getByText('Nobody is blocked.').waitFor();
    await blocks.getByLabel('Prescriber to block').fill(haddad.address);
    await blocks.getByRole('button', { name: 'Block from emergency access' }).click();
    await blocks.getByText(new RegExp(`Block ${haddad.address}: confirmed in block \\d+`)).waitFor();
    const listed = blocks.locator(`li[data-blocked="${lower(haddad.address)}"]`);
    await listed.waitFor();
    assert.equal((await view('ConsentRegistry', 'grantOf', [maria.address, haddad.address])).emergencyBlocked, true);
    await checkPage(t, patient.page, 'patient-blocks');

    const { page, w } = await open(haddad, '/doctor');
    const region = await openEmergency(page, { patient: maria.address, reason: '2', justification: 'Collapsed in the waiting room; needs her history now.' });
    await region.getByRole('alert').getByText(`Emergency access to ${maria.address}: patient ${maria.address} has blocked ${haddad.address} from emergency access to her records`).waitFor();
    assert.equal(sent(w), 0);
    assert.equal(await view('ConsentRegistry', 'hasScope', [maria.address, haddad.address, READ]), false);
    await page.context().close();

    await listed.getByRole('button', { name: `Unblock ${haddad.address}` }).click();
    await blocks.getByText(new RegExp(`Unblock ${haddad.address}: confirmed in block \\d+`)).waitFor();
    await blocks.getByText('Nobody is blocked.').waitFor();
    assert.equal((await view('ConsentRegistry', 'grantOf', [maria.address, haddad.address])).emergencyBlocked, false);
    await patient.page.context().close();

    // Unblocked, Dr. Haddad opens it, and ends it himself from his patients' table as soon as he is done.
    const doctor = await open(haddad, '/doctor');
    const opened = await openEmergency(doctor.page, { patient: maria.address, reason: '2', hours: '1', justification: 'Collapsed again in the waiting room; history checked.' });
    await opened.getByTestId('emergency-opened').waitFor();
    const mine = doctor.page.getByRole('region', { name: 'Patients who granted you access' }).locator(`tr[data-patient="${lower(maria.address)}"]`);
    await mine.getByText('emergency read access').waitFor();
    assert.equal(await view('ConsentRegistry', 'hasScope', [maria.address, haddad.address, READ]), true);
    await mine.getByRole('button', { name: `End emergency access to ${maria.address}` }).click();
    await mine.getByText(new RegExp(`End emergency access to ${maria.address}: confirmed in block \\d+`)).waitFor();
    assert.equal(await view('ConsentRegistry', 'hasScope', [maria.address, haddad.address, READ]), false, 'ended on chain');
    await mine.getByText('emergency read access').waitFor({ state: 'detached' });
    await doctor.page.context().close();
  });
});

describe('the printed prescription', () => {
  test("after signing, the doctor prints the patient's prescription: readable, its QR code and its code alone", async (t) => {
    const [okafor, maria, mission] = ['Okafor', 'Maria', 'Mission'].map(stack.who);
    const { page, w } = await open(okafor, '/doctor/prescribe');
    await fillPrescription(page, { patient: maria.address, rxnorm: AMOXICILLIN, drug: 'Amoxicillin', strength: '500 mg', quantity: 21, unit: 'capsule', fills: 1, pharmacy: mission.address, dosage: '1 capsule by mouth three times daily for 7 days' });
    const issued = await signAndSend(page, w, 'issue', tmp);
    const copy = page.getByRole('region', { name: 'For the patient' });
    assert.equal(await copy.getByRole('img', { name: 'QR code of the prescription for the pharmacy' }).getAttribute('data-code'), issued.code);
    // On screen the details are print-only.
    assert.equal(await page.getByTestId('print-details').isVisible(), false);

    await page.evaluate(() => (window.print = () => (window.__printed = true)));
    await copy.getByRole('button', { name: "Print the patient's prescription" }).click();
    assert.equal(await page.evaluate(() => window.__printed), true);
    await page.emulateMedia({ media: 'print' });
    const printed = (selector) => page.locator(selector).first().isVisible();
    assert.equal(await printed(`svg[data-code="${issued.code}"]`), true, 'the QR code is printed');
    assert.equal((await page.getByTestId('print-code').textContent()).trim(), issued.code, 'the code is printed as text');
    assert.equal(await printed('[data-testid="print-code"]'), true);
    assert.match(await page.getByTestId('print-drug').textContent(), /^Amoxicillin 500 mg \(RxNorm 308191, not controlled\), 21 capsule × 1 fill$/);
    const details = await page.getByTestId('print-details').textContent();
    for (const part of ['Maria Alvarez', '1 capsule by mouth three times daily for 7 days', okafor.address, 'a generic may be dispensed']) {
      assert.ok(details.includes(part), `the printed details name ${part}: ${details}`);
    }
    assert.equal(await printed('[data-testid="print-details"]'), true);
    for (const selector of ['h1', 'header.top', 'table.terms', 'button:has-text("Download the patient copy")', 'textarea[name="code"]', 'button:has-text("Print")']) {
      assert.equal(await printed(selector), false, `${selector} is not printed`);
    }
    t.diagnostic(`screenshot ${await shot(page, 'doctor-rx-printed')}`);
    await page.emulateMedia({ media: 'screen' });
    await page.evaluate(() => dispatchEvent(new Event('afterprint')));
    assert.equal(await page.locator('html.print-rx').count(), 0, 'the page is itself again after printing');
    await page.context().close();
  });
});
