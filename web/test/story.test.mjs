// The seeds' story end to end in the browser (issue 20's first "must show"), against the real stack (`medledger
// dev`: anvil, PostgreSQL, the indexer, the API, the vault with the demo's documents), headless Chromium and test
// wallets signing with anvil's keys. Maria Alvarez's page stays open from the first step to the last:
// 1. she grants Dr. Leila Haddad, her new doctor, read and prescribe access, and revokes Dr. Amara Okafor's;
// 2. Dr. Haddad opens her records in the vault; Dr. Okafor is refused, with the sentence;
// 3. Dr. Haddad writes, reviews and signs a prescription and issues it;
// 4. Mission Street Pharmacy's camera films the QR code Maria's page shows; it verifies and dispenses;
// 5. Maria's page, never reloaded, shows the dispense.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { launch, shot } from './support/browser.mjs';
import { harness, lower } from './support/harness.mjs';
import { AMOXICILLIN, fillPrescription, indexed, signAndSend, y4mOfPageQr } from './support/rx.mjs';
import { documents, records, signIn } from './support/vault.mjs';

/** A block explorer for the stack (`medledger dev --explorer.url`): transactions link to it. */
const EXPLORER = 'https://explorer.medledger.test';
const h = harness(() => {}, { args: ['--explorer.url', `${EXPLORER}/`] });
const tmp = mkdtempSync(join(tmpdir(), 'medledger-story-web-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
/** The demo's history and physical note of Maria (LOINC 34117-2), anchored in Dr. Okafor's episode. */
const INTAKE = '34117-2';
const READ = 1;
const PRESCRIBE = 4;

test("the seeds' story: a new doctor, her records, a prescription, the pharmacy's camera, the dispense live on her page", async (t) => {
  const [maria, okafor, haddad, mission] = ['Maria', 'Okafor', 'Haddad', 'Mission'].map(h.stack.who);

  // Before the story: Dr. Okafor, her doctor, reads her records (the vault lets him).
  const old = await h.open(okafor, '/doctor');
  const oldRecords = records(old.page);
  await signIn(oldRecords);
  await oldRecords.getByRole('button', { name: new RegExp(`^Open records of ${maria.address}$`, 'i') }).click();
  const oldList = oldRecords.locator(`[data-patient="${lower(maria.address)}"]`);
  await oldList.locator(`tr[data-type="${INTAKE}"]`).waitFor();

  // 1. Maria's page, open for the whole story: she grants Dr. Haddad and revokes Dr. Okafor.
  const patient = await h.open(maria, '/patient');
  await patient.page.evaluate(() => (window.__sameDocument = true));
  const access = patient.page.getByRole('region', { name: 'Who has access now' });
  await access.locator(`tr[data-grantee="${lower(okafor.address)}"]`).waitFor();
  assert.equal(await access.locator(`tr[data-grantee="${lower(haddad.address)}"]`).count(), 0, 'Dr. Haddad is new to Maria');
  const grant = patient.page.getByRole('region', { name: 'Grant access' });
  await grant.getByLabel('Grantee (doctor, clinic, relative) address').fill(haddad.address);
  await grant.getByLabel('Prescribe').check();
  await grant.getByRole('button', { name: 'Grant access', exact: true }).click();
  await grant.getByText(/confirmed in block \d+/).waitFor();
  await access.locator(`tr[data-grantee="${lower(haddad.address)}"]`).getByText('Read records, Prescribe').waitFor();
  await access.getByRole('button', { name: `Revoke ${okafor.address}` }).click();
  await access.getByText(/confirmed in block \d+/).waitFor();
  await access.locator(`tr[data-grantee="${lower(okafor.address)}"]`).waitFor({ state: 'detached' });
  assert.equal(await h.view('ConsentRegistry', 'hasScope', [maria.address, haddad.address, READ | PRESCRIBE]), true);
  assert.equal(await h.view('ConsentRegistry', 'hasScope', [maria.address, okafor.address, READ]), false);
  await h.checkPage(t, patient.page, 'story-patient-access');

  // 2. The new doctor opens her records; the old one is refused, with the sentence.
  const doctor = await h.open(haddad, '/doctor');
  const mine = records(doctor.page);
  await signIn(mine);
  await mine.getByRole('button', { name: new RegExp(`^Open records of ${maria.address}$`, 'i') }).click();
  const list = mine.locator(`[data-patient="${lower(maria.address)}"]`);
  await list.locator(`tr[data-type="${INTAKE}"]`).getByRole('button', { name: /^Open / }).click();
  await mine.getByTestId('viewer').locator('pre').getByText('Essential hypertension').waitFor();
  await h.checkPage(t, doctor.page, 'story-doctor-records');
  await oldList.locator(`tr[data-type="${INTAKE}"]`).getByRole('button', { name: /^Open / }).click();
  await oldRecords.getByTestId('viewer-refused').getByText('Refused: the patient has revoked your access.').waitFor();
  // Her list asked afresh: the same sentence. Maria's access log holds the new doctor's read and the refusal.
  await oldRecords.getByRole('button', { name: 'Reload the list' }).click();
  await oldRecords.getByTestId('records-refused').getByText('Refused: the patient has revoked your access.').waitFor();
  await old.page.context().close();
  const log = documents(patient.page);
  await signIn(log);
  const reads = log.getByRole('region', { name: 'Who read what' });
  await reads.locator(`tr[data-actor="${lower(haddad.address)}"][data-action="read"][data-outcome="allowed"]`).first().waitFor();
  await reads.locator(`tr[data-actor="${lower(okafor.address)}"][data-outcome="denied"]`).first().getByText(/consent revoked/).waitFor();

  // 3. The new doctor writes, reviews, signs and issues a prescription for her.
  await doctor.page.goto(`${h.stack.url}/doctor/prescribe`);
  await fillPrescription(doctor.page, { patient: maria.address, rxnorm: AMOXICILLIN, drug: 'Amoxicillin', strength: '500 mg', quantity: 21, unit: 'capsule', fills: 2, intervalDays: 7, pharmacy: mission.address });
  const issued = await signAndSend(doctor.page, doctor.w, 'issue', tmp);
  // The transaction's hash links to the configured explorer (its trailing slash dropped).
  const link = doctor.page.getByRole('status').filter({ hasText: /Issue the prescription: confirmed/ }).getByRole('link');
  const hash = await link.textContent();
  assert.match(hash, /^0x[0-9a-f]{64}$/);
  assert.equal(await link.getAttribute('href'), `${EXPLORER}/tx/${hash}`);
  assert.equal(h.config.explorerUrl, EXPLORER);
  await doctor.page.context().close();
  const rx = await indexed(h.stack.url, issued.rxId);
  assert.equal(rx.prescriber, haddad.address);

  // Her page lists it (live: it was issued after the page loaded); she loads her copy and shows the code.
  const row = patient.page.getByRole('region', { name: 'Your prescriptions' }).locator(`tr[data-rx="${issued.rxId}"]`);
  await row.getByText('2 of 2').waitFor();
  const codes = patient.page.getByRole('region', { name: 'Show a prescription to the pharmacy' });
  await codes.getByLabel('Your prescription file (patient copy)').setInputFiles(issued.copyPath);
  const qr = codes.getByRole('img', { name: 'QR code of your prescription' });
  assert.equal(await qr.getAttribute('data-code'), issued.code);
  // Printed, the page shows the drug line and the code alone (the print dialog itself is not opened here).
  await patient.page.evaluate(() => (window.print = () => (window.__printed = true)));
  await codes.getByRole('button', { name: 'Print the code' }).click();
  assert.equal(await patient.page.evaluate(() => window.__printed), true);
  await patient.page.emulateMedia({ media: 'print' });
  // (CSS locators: under `visibility: hidden` the regions leave the accessibility tree that getByRole reads.)
  const printed = (selector) => patient.page.locator(selector).first().isVisible();
  assert.equal(await printed('svg[data-code]'), true, 'the QR code is printed');
  assert.equal(await printed('[data-testid="print-drug"]'), true, 'the drug line is printed');
  for (const selector of ['[data-testid="loaded-status"]', 'button:has-text("Print the code")', 'button:has-text("Copy the code")', 'textarea[name="code"]', 'tr[data-grantee]', 'h1', 'header.top']) {
    assert.equal(await printed(selector), false, `${selector} is not printed`);
  }
  const top = await patient.page.evaluate(() => document.querySelector('svg[data-code]').getBoundingClientRect().top - document.body.getBoundingClientRect().top);
  assert.ok(top < 200, `the code is printed at the top of the page (${top}px down)`);
  const [height, screen] = await patient.page.evaluate(() => [document.documentElement.scrollHeight, innerHeight]);
  assert.ok(height <= screen, `one page: nothing else takes room (${height}px for ${screen}px)`);
  t.diagnostic(`screenshot ${await shot(patient.page, 'patient-rx-printed')}`);
  await patient.page.emulateMedia({ media: 'screen' });
  await patient.page.evaluate(() => dispatchEvent(new Event('afterprint')));
  assert.equal(await patient.page.locator('html.print-rx').count(), 0, 'the page is itself again after printing');

  // 4. The pharmacy's (fake) camera films the code on her page; it verifies and dispenses.
  const camera = await launch({ camera: await y4mOfPageQr(qr, join(tmp, 'story.y4m')) });
  try {
    const pharmacy = await h.open(mission, '/pharmacy', { browser: camera });
    await pharmacy.page.getByRole('button', { name: 'Scan the QR code with the camera' }).click();
    const verify = pharmacy.page.getByRole('region', { name: 'Verification' });
    await verify.getByTestId('verify-rx-id').getByText(issued.rxId).waitFor({ timeout: 30_000 });
    await verify.locator('[data-testid="verdict"][data-valid="true"]').getByText('Dispensable').waitFor();
    await verify.getByText(/up to 21 capsule now/).waitFor();
    await verify.getByRole('button', { name: 'Dispense' }).click();
    await verify.getByText(/Dispense 21 capsule: confirmed in block \d+/).waitFor();
    await h.checkPage(t, pharmacy.page, 'story-pharmacy-dispensed');
    await pharmacy.page.context().close();
  } finally {
    await camera.close();
  }

  // 5. Her page, never reloaded, shows the dispense.
  await row.getByText('1 of 2').waitFor();
  await codes.getByTestId('loaded-status').getByText(/1 of 2 fills left/).waitFor();
  assert.equal(await patient.page.evaluate(() => window.__sameDocument), true, 'no reload');
  const [state, total] = await h.view('Prescriptions', 'prescriptionOf', [issued.rxId]);
  assert.equal(state.fillsUsed, 1);
  assert.equal(total, 21n);
  await h.checkPage(t, patient.page, 'story-patient-dispensed');
  await patient.page.context().close();
});
