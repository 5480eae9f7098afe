// Prescriptions in the browser, shared by the test files: the doctor's form (fill, review, sign, issue or
// relay), the QR code a page draws turned into a fake camera's video, and waiting for the API's index.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** RxNorm codes of the demo's drugs: amoxicillin 500 mg capsule (not controlled), oxycodone 5 mg tablet (schedule II). */
export const AMOXICILLIN = '308191';
export const OXYCODONE = '1049621';

/**
 * A Y4M video (one frame, looped by Chromium's fake camera) showing the QR code a page drew: its SVG's
 * viewBox and the dark modules of its path (`M{x} {y}h1v1h-1z` each), dark on light as a printed code.
 */
export async function y4mOfPageQr(svg, path) {
  const size = Number((await svg.getAttribute('viewBox')).split(' ')[2]);
  const d = await svg.locator('path').getAttribute('d');
  const dark = [...d.matchAll(/M(\d+) (\d+)h1v1h-1z/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.ok(dark.length > size, 'the page drew a QR code');
  const [w, hgt] = [800, 800];
  const scale = Math.floor(Math.min(w, hgt) / size);
  const off = Math.floor((w - size * scale) / 2);
  const y = Buffer.alloc(w * hgt, 235);
  for (const [c, r] of dark) {
    for (let dy = 0; dy < scale; dy++) y.fill(16, (off + r * scale + dy) * w + off + c * scale, (off + r * scale + dy) * w + off + (c + 1) * scale);
  }
  const chroma = Buffer.alloc((w / 2) * (hgt / 2), 128);
  writeFileSync(path, Buffer.concat([Buffer.from(`YUV4MPEG2 W${w} H${hgt} F10:1 Ip A1:1 C420jpeg\nFRAME\n`), y, chroma, chroma]));
  return path;
}

/** A GraphQL request to the API at `url`; throws with its errors' messages. */
export async function gql(url, text, variables = {}) {
  const r = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: text, variables }) });
  const body = await r.json();
  if (body.errors) {
    const error = new Error(body.errors.map((e) => e.message).join('; '));
    error.codes = body.errors.map((e) => e.extensions?.code);
    throw error;
  }
  return body.data;
}

/** Waits until the API at `url` has indexed prescription `id`; returns it. */
export async function indexed(url, id, fields = 'id prescriber relayer relayed status fillsUsed quantityDispensed') {
  // A deadline, not a count: a loaded machine indexes more slowly.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      return (await gql(url, `query($id: Bytes32!) { prescription(id: $id) { ${fields} } }`, { id })).prescription;
    } catch (e) {
      // Not indexed yet: the API answers NOT_FOUND ("no prescription has id …") until the indexer commits it.
      if (!e.codes?.includes('NOT_FOUND')) throw e;
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
  throw new Error(`prescription ${id} was not indexed in 60 s`);
}

/** Fills the prescription form on `page` (a /doctor/prescribe page). */
export async function fillPrescription(page, v) {
  const form = page.getByRole('region', { name: 'The prescription' });
  const set = (label, value) => form.getByLabel(label, { exact: true }).fill(String(value));
  await set('Patient account', v.patient);
  await set('Patient name', v.patientName ?? 'Maria Alvarez');
  await set('Patient identifier (record number, insurance id)', v.patientIdentifier ?? 'MRN-2026-0042');
  await form.getByLabel('RxNorm code (RxCUI)').fill(v.rxnorm);
  await set('Drug (as printed for the patient)', v.drug);
  await set('Strength', v.strength);
  if (v.schedule != null) await form.getByLabel('Controlled-substance schedule').selectOption(String(v.schedule));
  await form.getByLabel('Dosage instructions (one per line)').fill(v.dosage ?? '1 capsule by mouth three times daily');
  await set('Quantity per fill', v.quantity);
  await set('Unit', v.unit);
  await set('Fills (1 = no refills)', v.fills ?? 1);
  if (v.daysSupply != null) await set("Days' supply (how long one fill lasts; required for a controlled substance)", v.daysSupply);
  await set('Valid for (days from the first fill)', v.validDays ?? 30);
  await set('Minimum days between fills', v.intervalDays ?? 0);
  await set('Designated pharmacy (account; empty = any pharmacy)', v.pharmacy ?? '');
  return form;
}

/**
 * Reviews and signs the form's prescription; `mode` 'issue' (sent by the doctor) or 'relay'. Saves the patient
 * copy the page offers into `dir`. Returns what the page shows.
 */
export async function signAndSend(page, w, mode, dir) {
  await page.getByRole('button', { name: 'Review' }).click();
  const review = page.getByRole('region', { name: 'Review before signing' });
  await review.waitFor();
  const rxId = await review.getByTestId('rx-id').textContent();
  // The review shows exactly the message the wallet is asked to sign.
  const shown = {};
  for (const row of await review.locator('tr[data-field]').all()) shown[await row.getAttribute('data-field')] = await row.locator('code.raw').textContent();
  if (mode === 'relay') await review.getByLabel('Sign only, for a relayer to issue (no fee for me)').check();
  await review.getByRole('button', { name: mode === 'issue' ? 'Sign and issue' : 'Sign for a relayer' }).click();
  if (mode === 'issue') await page.getByText(/Issue the prescription: confirmed in block \d+/).waitFor();
  const copyRegion = page.getByRole('region', { name: 'For the patient' });
  await copyRegion.waitFor();
  const signed = w.log.filter((x) => x.method === 'eth_signTypedData_v4').at(-1);
  const typed = JSON.parse(signed.params[1]);
  assert.equal(typed.primaryType, 'Prescription');
  assert.equal(typed.domain.name, 'medledger Prescriptions');
  const flat = { ...typed.message, ...Object.fromEntries(Object.entries(typed.message.content).map(([k, v]) => [`content.${k}`, v])) };
  delete flat.content;
  assert.deepEqual(Object.keys(shown).sort(), Object.keys(flat).sort(), 'every signed field is shown');
  for (const [k, v] of Object.entries(flat)) assert.equal(String(shown[k]).toLowerCase(), String(v).toLowerCase(), `the review shows ${k} as signed`);
  const code = await copyRegion.getByLabel(/The code as text/).inputValue();
  const [download] = await Promise.all([page.waitForEvent('download'), copyRegion.getByRole('button', { name: 'Download the patient copy' }).click()]);
  const copyPath = join(dir, download.suggestedFilename());
  await download.saveAs(copyPath);
  const bundle = mode === 'relay' ? JSON.parse(await copyRegion.getByLabel('Signed prescription: hand it to the relayer').inputValue()) : null;
  return { rxId, code, copyPath, bundle, typed };
}
