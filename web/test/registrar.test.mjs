// Browser tests of the registrar's page against the real stack (`medledger dev`, headless Chromium, a test
// wallet holding the registrar's key): licensing a pharmacy with DEA schedules, renewing, changing schedules,
// suspending, reinstating and revoking, each confirmed on chain and shown live by the page's table; a
// pharmacy licensed here dispenses a schedule II prescription only once it holds schedule II.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { concat, keccak256, stringToHex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { harness, lower } from './support/harness.mjs';
import { OXYCODONE, fillPrescription, indexed, signAndSend } from './support/rx.mjs';

let stack;
const h = harness((x) => ({ stack } = x));
const { open, checkPage, view } = h;
const tmp = mkdtempSync(join(tmpdir(), 'medledger-registrar-web-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** CredentialRegistry's Kind and Status enums, and the schedules bitmask (bit n = schedule n). */
const PHARMACY = 2;
const [ACTIVE, SUSPENDED, REVOKED] = [0, 1, 2];
const bits = (...schedules) => schedules.reduce((b, n) => b | (1 << n), 0);
/** A date input's value `days` from now, and the unix time of the end of that day (UTC), as the page sends it. */
const dateIn = (days) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
const endOfDay = (date) => Date.parse(`${date}T23:59:59Z`) / 1000;
const schedule = (region, roman) => region.getByRole('checkbox', { name: new RegExp(`^Schedule ${roman} \\(`) });

describe('registrar', () => {
  test('licenses a pharmacy for schedule II, renews it, changes its schedules, suspends, reinstates and revokes it: the chain and the live table agree', async (t) => {
    const registrar = stack.accounts.find((a) => a.role === 'registrar');
    const pharmacy = privateKeyToAccount(generatePrivateKey()).address;
    const { page, w } = await open(registrar, '/registrar');

    // License: a pharmacy may now hold schedules; the boxes say what each schedule means.
    const form = page.getByRole('region', { name: 'License a prescriber or pharmacy' });
    await form.getByLabel('Account').fill(pharmacy);
    await form.getByLabel('Kind').selectOption('2');
    await form.getByRole('group', { name: 'Controlled-substance schedules this pharmacy may dispense' }).waitFor();
    await form.getByText(/oxycodone, fentanyl/).waitFor();
    await form.getByLabel('License number (only its salted hash goes on chain)').fill('CA-PHY-55123');
    await form.getByLabel('Jurisdiction').fill('US-CA');
    const until = dateIn(365);
    await form.getByLabel('Expires').fill(until);
    await schedule(form, 'II').check();
    await checkPage(t, page, 'registrar-license-pharmacy');
    await form.getByRole('button', { name: 'License', exact: true }).click();
    await form.getByText(/License 0x[0-9a-fA-F]{40}: confirmed in block \d+/).waitFor();
    const row = page.locator(`tr[data-account="${lower(pharmacy)}"]`);
    await row.locator('[data-status="active"]').waitFor();
    await row.locator('td[data-schedules="2"]').getByText('II', { exact: true }).waitFor();
    assert.equal(await row.getByRole('cell', { name: 'pharmacy', exact: true }).count(), 1);
    let c = await view('CredentialRegistry', 'credentialOf', [pharmacy]);
    assert.equal(c.kind, PHARMACY);
    assert.equal(c.schedules, bits(2), 'schedule II on chain');
    assert.equal(c.expiresAt, endOfDay(until));
    assert.ok((await view('CredentialRegistry', 'activePharmacyId', [pharmacy])) > 0, 'an active pharmacy');
    // The license number goes on chain only as keccak256(salt ‖ number); the salt is shown to keep.
    const salt = await form.locator('[data-testid="license-salt"] code').textContent();
    assert.equal(c.licenseHash, keccak256(concat([salt, stringToHex('CA-PHY-55123')])), 'the salted commitment on chain');
    // The form is emptied for the next license.
    assert.equal(await form.getByLabel('Account').inputValue(), '');

    // Renew: a later expiry (and a new license number), shown in the table.
    await row.getByRole('button', { name: `Manage ${pharmacy}` }).click();
    const manage = page.getByRole('region', { name: /^Manage pharmacy #/ });
    await page.waitForFunction(() => document.activeElement?.id === 'manage');
    await schedule(manage, 'II').waitFor();
    assert.equal(await schedule(manage, 'II').isChecked(), true, 'the panel starts from the schedules held');
    await checkPage(t, page, 'registrar-manage-pharmacy');
    const renewed = dateIn(800);
    await manage.getByLabel('New expiry').fill(renewed);
    await manage.getByLabel('New license number (empty: keep the current one)').fill('CA-PHY-55123-R1');
    await manage.getByRole('button', { name: 'Renew' }).click();
    await manage.getByText(/Renew 0x[0-9a-fA-F]{40}: confirmed in block \d+/).waitFor();
    await row.locator(`time[datetime^="${renewed}"]`).waitFor();
    c = await view('CredentialRegistry', 'credentialOf', [pharmacy]);
    assert.equal(c.expiresAt, endOfDay(renewed), 'the new expiry on chain');
    const renewSalt = await manage.locator('[data-testid="license-salt"] code').textContent();
    assert.notEqual(renewSalt, salt, 'a fresh salt for the renewed license');
    assert.equal(c.licenseHash, keccak256(concat([renewSalt, stringToHex('CA-PHY-55123-R1')])));

    // Schedules: II off, III and IV on.
    await schedule(manage, 'II').uncheck();
    await schedule(manage, 'III').check();
    await schedule(manage, 'IV').check();
    await manage.getByRole('button', { name: 'Save schedules' }).click();
    await manage.getByText(/Change the schedules of 0x[0-9a-fA-F]{40}: confirmed in block \d+/).waitFor();
    await row.locator('td[data-schedules="3,4"]').getByText('III, IV').waitFor();
    assert.equal((await view('CredentialRegistry', 'credentialOf', [pharmacy])).schedules, bits(3, 4), 'schedules III and IV on chain');

    // Suspend (reason 5), then reinstate.
    await manage.getByLabel('Reason code').fill('5');
    await manage.getByRole('button', { name: 'Suspend' }).click();
    await manage.getByText(/Suspend 0x[0-9a-fA-F]{40}: confirmed in block \d+/).waitFor();
    await row.locator('[data-status="suspended"]').waitFor();
    await row.getByText('(reason 5)').waitFor();
    assert.equal((await view('CredentialRegistry', 'credentialOf', [pharmacy])).status, SUSPENDED);
    assert.equal(await view('CredentialRegistry', 'isActive', [pharmacy, PHARMACY]), false, 'a suspended pharmacy is not active');
    await manage.getByRole('button', { name: 'Reinstate' }).click();
    await manage.getByText(/Reinstate 0x[0-9a-fA-F]{40}: confirmed in block \d+/).waitFor();
    await row.locator('[data-status="active"]').waitFor();
    assert.equal((await view('CredentialRegistry', 'credentialOf', [pharmacy])).status, ACTIVE);
    assert.equal(await view('CredentialRegistry', 'isActive', [pharmacy, PHARMACY]), true);

    // Revoke: asked twice, then for good.
    await manage.getByRole('button', { name: 'Revoke…' }).click();
    await manage.getByRole('button', { name: 'Confirm: revoke for good' }).click();
    await manage.getByText(/Revoke 0x[0-9a-fA-F]{40}: confirmed in block \d+/).waitFor();
    await row.locator('[data-status="revoked"]').waitFor();
    assert.equal((await view('CredentialRegistry', 'credentialOf', [pharmacy])).status, REVOKED);
    // Every change was the registrar's own transaction through the wallet: license, renew, schedules,
    // suspend, reinstate, revoke.
    assert.equal(w.log.filter((x) => x.method === 'eth_sendTransaction').length, 6);
    await checkPage(t, page, 'registrar');
    await page.context().close();
  });

  test('a pharmacy licensed in the browser without schedules cannot dispense schedule II; once the registrar adds it there, it can', async () => {
    const [registrar, okafor, maria, clinic] = [stack.accounts.find((a) => a.role === 'registrar'), stack.who('Okafor'), stack.who('Maria'), stack.accounts.find((a) => a.role === 'relayer')];
    // The registrar licenses the clinic's account as a pharmacy, no schedule checked.
    const reg = await open(registrar, '/registrar');
    const form = reg.page.getByRole('region', { name: 'License a prescriber or pharmacy' });
    await form.getByLabel('Account').fill(clinic.address);
    await form.getByLabel('Kind').selectOption('2');
    await form.getByLabel('License number (only its salted hash goes on chain)').fill('CA-PHY-77001');
    await form.getByRole('button', { name: 'License', exact: true }).click();
    await form.getByText(/confirmed in block \d+/).waitFor();
    const row = reg.page.locator(`tr[data-account="${lower(clinic.address)}"]`);
    await row.locator('td[data-schedules=""]').getByText('none').waitFor();

    // Dr. Okafor prescribes oxycodone (schedule II) to Maria, designating that pharmacy.
    const doctor = await open(okafor, '/doctor/prescribe');
    await fillPrescription(doctor.page, { patient: maria.address, rxnorm: OXYCODONE, drug: 'Oxycodone hydrochloride', strength: '5 mg', dosage: '1 tablet every 6 hours as needed', quantity: 10, unit: 'tablet', daysSupply: 3, pharmacy: clinic.address });
    const oxy = await signAndSend(doctor.page, doctor.w, 'issue', tmp);
    await doctor.page.context().close();
    await indexed(stack.url, oxy.rxId);

    // The pharmacy's verification says it may not dispense it, in the contract's own sentence, and offers no
    // Dispense button: nothing can be sent.
    const pharmacy = await open(clinic, '/pharmacy');
    await pharmacy.page.getByLabel('Or paste the code (MEDRX2:…) or the patient copy').fill(oxy.code);
    await pharmacy.page.getByRole('button', { name: 'Read the prescription' }).click();
    const verify = pharmacy.page.getByRole('region', { name: 'Verification' });
    await verify.locator('[data-testid="verdict"][data-valid="false"]').waitFor();
    await verify.getByText(`${clinic.address} is not registered for schedule II: its registration holds no schedule (bitmap 0b00000000)`, { exact: false }).waitFor();
    assert.equal(await verify.getByRole('button', { name: 'Dispense' }).count(), 0, 'no Dispense button');
    assert.equal(pharmacy.w.log.filter((x) => x.method === 'eth_sendTransaction').length, 0, 'nothing sent');

    // The registrar adds schedule II in the manage panel; the verdict turns dispensable live, and the dispense
    // goes through.
    await row.getByRole('button', { name: `Manage ${clinic.address}` }).click();
    const manage = reg.page.getByRole('region', { name: /^Manage pharmacy #/ });
    await schedule(manage, 'II').check();
    await manage.getByRole('button', { name: 'Save schedules' }).click();
    await manage.getByText(/Change the schedules of 0x[0-9a-fA-F]{40}: confirmed in block \d+/).waitFor();
    await row.locator('td[data-schedules="2"]').waitFor();
    await reg.page.context().close();
    await verify.locator('[data-testid="verdict"][data-valid="true"]').waitFor();
    await verify.getByText(/up to 10 tablet now/).waitFor();
    await verify.getByRole('button', { name: 'Dispense' }).click();
    await verify.getByText(/Dispense 10 tablet: confirmed in block \d+/).waitFor();
    const [, total] = await view('Prescriptions', 'prescriptionOf', [oxy.rxId]);
    assert.equal(total, 10n);
    await pharmacy.page.context().close();
  });

  test("a prescriber's schedules are changed the same way; an invalid change is refused with a sentence before anything is sent", async () => {
    const [registrar, haddad] = [stack.accounts.find((a) => a.role === 'registrar'), stack.who('Haddad')];
    const { page, w } = await open(registrar, '/registrar');
    const row = page.locator(`tr[data-account="${lower(haddad.address)}"]`);
    await row.getByRole('button', { name: `Manage ${haddad.address}` }).click();
    const manage = page.getByRole('region', { name: /^Manage prescriber #/ });
    await manage.getByRole('group', { name: 'Controlled-substance schedules this prescriber may prescribe' }).waitFor();
    const before = (await view('CredentialRegistry', 'credentialOf', [haddad.address])).schedules;
    const held = [2, 3, 4, 5].filter((n) => before & (1 << n));
    for (const [n, roman] of [[2, 'II'], [3, 'III'], [4, 'IV'], [5, 'V']]) {
      assert.equal(await schedule(manage, roman).isChecked(), held.includes(n), `schedule ${roman} as held on chain`);
    }
    await schedule(manage, 'V').setChecked(!held.includes(5));
    await manage.getByRole('button', { name: 'Save schedules' }).click();
    await manage.getByText(/Change the schedules of 0x[0-9a-fA-F]{40}: confirmed in block \d+/).waitFor();
    const after = before ^ bits(5);
    assert.equal((await view('CredentialRegistry', 'credentialOf', [haddad.address])).schedules, after);
    await row.locator(`td[data-schedules="${[2, 3, 4, 5].filter((n) => after & (1 << n)).join(',')}"]`).waitFor();
    // A renewal into the past is refused by the contract: said in its sentence before the wallet is asked.
    const sent = w.log.filter((x) => x.method === 'eth_sendTransaction').length;
    await manage.getByLabel('New expiry').fill('2020-01-31');
    await manage.getByRole('button', { name: 'Renew' }).click();
    await manage.getByRole('alert').getByText(`Renew ${haddad.address}: the expiry 2020-01-31T23:59:59+00:00 of ${haddad.address}'s credential is not in the future`, { exact: false }).waitFor();
    assert.equal(w.log.filter((x) => x.method === 'eth_sendTransaction').length, sent, 'nothing sent');
    await page.context().close();
  });
});
