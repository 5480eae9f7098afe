// Browser tests of the pharmacy's page against the real stack (`medledger dev`, headless Chromium, test
// wallets): its queue ("Prescriptions sent to this pharmacy") and history ("Dispensed here") following the
// chain live, reading the patient's copy from a file, and the reasons it may not dispense a prescription
// designated to another pharmacy or cancelled, as sentences.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { harness } from './support/harness.mjs';
import { AMOXICILLIN, fillPrescription, indexed, signAndSend } from './support/rx.mjs';

let stack;
const h = harness((x) => ({ stack } = x));
const { open, checkPage, sendAs } = h;

const tmp = mkdtempSync(join(tmpdir(), 'medledger-pharmacy-web-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const queue = (page) => page.getByRole('region', { name: 'Prescriptions sent to this pharmacy' });
const history = (page) => page.getByRole('region', { name: 'Dispensed here' });
const verification = (page) => page.getByRole('region', { name: 'Verification' });

describe("the pharmacy's page", () => {
  // Issued in the first test (designated to Mission Street, 2 fills of 10), used by the next ones.
  let rx;

  test('the queue lists a prescription sent here; the patient copy loads from a file; a dispense appears in the history without a reload', async (t) => {
    const [okafor, maria, mission, bayview] = ['Okafor', 'Maria', 'Mission', 'Bayview'].map(stack.who);
    // Both pharmacies' pages are open before the prescription exists.
    const pharmacy = await open(mission, '/pharmacy');
    const other = await open(bayview, '/pharmacy');
    const doctor = await open(okafor, '/doctor/prescribe');
    await fillPrescription(doctor.page, { patient: maria.address, rxnorm: AMOXICILLIN, drug: 'Amoxicillin', strength: '500 mg', quantity: 10, unit: 'capsule', fills: 2, pharmacy: mission.address });
    rx = await signAndSend(doctor.page, doctor.w, 'issue', tmp);
    await doctor.page.context().close();
    await indexed(stack.url, rx.rxId);

    // Mission Street's queue lists it (fills used, units left, status), live: the designated pharmacy is one of PrescriptionIssued's accounts (the
    // indexer collects addresses inside the terms struct), so the page's `{accounts: [me]}` subscription fires.
    const row = queue(pharmacy.page).locator(`tr[data-rx="${rx.rxId}"]`);
    await row.waitFor({ timeout: 15_000 });
    const cells = await row.locator('td').allTextContents();
    assert.equal(cells[0], `${rx.rxId.slice(0, 10)}…`);
    assert.equal(await row.locator('td').nth(1).locator('[data-address]').getAttribute('data-address'), maria.address.toLowerCase(), 'the patient');
    assert.deepEqual(cells.slice(2, 6), ['not controlled', 'fillable', '0 of 2', '20']);
    // Nothing was dispensed here yet.
    assert.equal(await history(pharmacy.page).locator(`tr[data-dispense="${rx.rxId}"]`).count(), 0);
    // Bayview's queue does not list what was sent to Mission Street (its page got the same events).
    await other.page.reload();
    await queue(other.page).waitFor();
    assert.equal(await queue(other.page).locator(`tr[data-rx="${rx.rxId}"]`).count(), 0, "another pharmacy's queue");
    await other.page.context().close();

    // The patient's copy, loaded as a file.
    await pharmacy.page.getByLabel('Or load the patient copy (file)').setInputFiles(rx.copyPath);
    const verify = verification(pharmacy.page);
    await verify.getByTestId('verify-rx-id').getByText(rx.rxId).waitFor();
    await verify.locator('[data-testid="verdict"][data-valid="true"]').getByText('Dispensable').waitFor();
    await verify.getByText(/up to 10 capsule now \(fill 1 of 2, 20 units left in all\)/).waitFor();
    await verify.getByText(/For Maria Alvarez \(MRN-2026-0042\)/).waitFor();
    await checkPage(t, pharmacy.page, 'pharmacy-copy-file');

    // A partial fill (4 of 10); the history shows it and the queue row follows, without a reload.
    await verify.getByLabel(/Units to dispense/).fill('4');
    await verify.getByRole('button', { name: 'Dispense' }).click();
    await verify.getByText(/Dispense 4 capsule: confirmed in block \d+/).waitFor();
    const done = history(pharmacy.page).locator(`tr[data-dispense="${rx.rxId}"]`);
    await done.waitFor();
    const [, id, fill, units, total] = await done.locator('td').allTextContents();
    assert.deepEqual([id, fill, units, total], [`${rx.rxId.slice(0, 10)}…`, '1', '4', '4']);
    await row.locator('td').nth(5).getByText('16', { exact: true }).waitFor();
    assert.equal(await row.locator('td').nth(4).textContent(), '1 of 2');
    await verify.getByText(/up to 6 capsule now/).waitFor();
    await checkPage(t, pharmacy.page, 'pharmacy-queue-history');
    await pharmacy.page.context().close();
  });

  test('another pharmacy is told the prescription is designated elsewhere, and may not dispense', async (t) => {
    const [mission, bayview] = ['Mission', 'Bayview'].map(stack.who);
    const { page } = await open(bayview, '/pharmacy');
    await page.getByLabel('Or paste the code (MEDRX2:…) or the patient copy').fill(rx.code);
    await page.getByRole('button', { name: 'Read the prescription' }).click();
    const verify = verification(page);
    await verify.getByTestId('verify-rx-id').getByText(rx.rxId).waitFor();
    await verify.locator('[data-testid="verdict"][data-valid="false"]').waitFor();
    const reasons = verify.getByTestId('reasons').locator('li');
    assert.deepEqual(
      await reasons.evaluateAll((li) => li.map((x) => [x.dataset.reason, x.textContent])),
      [['OTHER_PHARMACY_DESIGNATED', `The prescription is designated to ${mission.address}.`]],
      'the one reason, as a sentence',
    );
    await verify.getByRole('alert').getByText('Not dispensable').waitFor();
    assert.equal(await verify.getByRole('button', { name: 'Dispense' }).count(), 0, 'no dispense form');
    await checkPage(t, page, 'pharmacy-other-designated');
    await page.context().close();
  });

  test('a cancelled prescription: the verdict turns as the prescriber cancels, and it leaves the queue', async (t) => {
    const [okafor, mission] = ['Okafor', 'Mission'].map(stack.who);
    const { page } = await open(mission, '/pharmacy');
    await page.getByLabel('Or paste the code (MEDRX2:…) or the patient copy').fill(rx.code);
    await page.getByRole('button', { name: 'Read the prescription' }).click();
    const verify = verification(page);
    await verify.locator('[data-testid="verdict"][data-valid="true"]').getByText(/up to 6 capsule now/).waitFor();
    const row = queue(page).locator(`tr[data-rx="${rx.rxId}"]`);
    await row.waitFor();

    // The prescriber cancels it from elsewhere (its own wallet, straight to the chain).
    await sendAs(okafor, 'Prescriptions', 'cancel', [rx.rxId, 1]);
    await verify.locator('[data-testid="verdict"][data-valid="false"]').waitFor({ timeout: 30_000 });
    const reasons = verify.getByTestId('reasons').locator('li');
    assert.deepEqual(await reasons.evaluateAll((li) => li.map((x) => [x.dataset.reason, x.textContent])), [['CANCELLED', 'The prescriber cancelled the prescription.']]);
    assert.equal(await verify.getByRole('button', { name: 'Dispense' }).count(), 0, 'no dispense form');
    // Only open prescriptions are queued (after a reload: PrescriptionCancelled does not name the pharmacy,
    // so its `{accounts: [me]}` subscription does not see it); the history keeps the dispense.
    await page.reload();
    await queue(page).waitFor();
    assert.equal(await row.count(), 0, 'the cancelled prescription left the queue');
    await history(page).locator(`tr[data-dispense="${rx.rxId}"]`).waitFor();
    await checkPage(t, page, 'pharmacy-cancelled');
    await page.context().close();
  });
});
