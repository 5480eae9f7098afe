// The prescription form's values → the resolved prescription document (src/rx/document.rs), with the
// checks a prescriber's tool owes before anything is signed: required fields, an RxCUI, the declared schedule
// against the bundled table, the controlled-substance fields. The limits the contract enforces (fills per
// schedule, validity, intervals, consent, license) are checked by simulating the issue on chain.
import { getAddress, isAddress, type Address } from 'viem';
import { RXNORM_SYSTEM, SCHEDULE_LETTER, rfc3339, type MedicationRequest } from './prescription';
import { checkDeclared, scheduleOf } from './schedule';

export interface FormValues {
  patient: string;
  patientName: string;
  patientIdentifier: string;
  rxnormCode: string;
  drugName: string;
  strength: string;
  schedule: number;
  dosage: string;
  quantity: string;
  unit: string;
  fills: string;
  daysSupply: string;
  /** First fill date (YYYY-MM-DD, UTC) or '' for "from now". */
  firstFill: string;
  validDays: string;
  intervalDays: string;
  pharmacy: string;
  substitution: boolean;
  longTermCare: boolean;
  /** Days the signed terms may wait to be issued. */
  issueDays: string;
}

export const emptyForm: FormValues = {
  patient: '',
  patientName: '',
  patientIdentifier: '',
  rxnormCode: '',
  drugName: '',
  strength: '',
  schedule: 0,
  dosage: '',
  quantity: '',
  unit: 'tablet',
  fills: '1',
  daysSupply: '',
  firstFill: '',
  validDays: '30',
  intervalDays: '0',
  pharmacy: '',
  substitution: true,
  longTermCare: false,
  issueDays: '7',
};

/** A refusal: the field (its form name) and the reason in a sentence. */
export interface Refusal {
  field: keyof FormValues;
  message: string;
}

const DAY = 86_400;

function whole(v: FormValues, field: keyof FormValues, label: string, min: number, max: number): number | Refusal {
  const s = String(v[field]).trim();
  if (!/^\d+$/.test(s)) return { field, message: `${label}: enter a whole number.` };
  const n = Number(s);
  if (n < min || n > max) return { field, message: `${label}: between ${min} and ${max}, not ${n}.` };
  return n;
}

const refused = (x: unknown): x is Refusal => typeof x === 'object' && x != null && 'message' in x;

/**
 * The resolved document as of `now` (the chain's time, unix seconds) for prescriber `me`, or every refusal.
 */
export function buildDocument(v: FormValues, me: Address, now: number): { doc: MedicationRequest } | { refusals: Refusal[] } {
  const out: Refusal[] = [];
  const need = (field: keyof FormValues, label: string) => {
    if (!String(v[field]).trim()) out.push({ field, message: `${label}: required.` });
  };
  if (!isAddress(v.patient.trim())) out.push({ field: 'patient', message: "The patient's account: 0x followed by 40 hex digits." });
  need('patientName', "The patient's name");
  need('patientIdentifier', "The patient's identifier");
  const code = v.rxnormCode.trim();
  if (!/^\d+$/.test(code)) out.push({ field: 'rxnormCode', message: `RxNorm code: an RxCUI is digits only, not "${code}".` });
  need('drugName', 'Drug');
  need('strength', 'Strength');
  need('unit', 'Unit');
  const dosage = v.dosage.split('\n').map((l) => l.trim()).filter(Boolean);
  if (!dosage.length) out.push({ field: 'dosage', message: 'Dosage instructions: at least one line.' });
  if (/^\d+$/.test(code)) {
    const mismatch = checkDeclared(code, v.schedule);
    if (mismatch) out.push({ field: 'schedule', message: `Schedule refused: ${mismatch}.` });
  }
  const quantity = whole(v, 'quantity', 'Quantity per fill', 1, 4_294_967_295);
  const fills = whole(v, 'fills', 'Fills', 1, 255);
  const validDays = whole(v, 'validDays', 'Valid for (days)', 1, 3_650);
  const intervalDays = whole(v, 'intervalDays', 'Minimum days between fills', 0, 3_650);
  const issueDays = whole(v, 'issueDays', 'Days to issue the signed prescription', 1, 30);
  const controlled = v.schedule !== 0;
  const supply = v.daysSupply.trim() || controlled ? whole(v, 'daysSupply', "Days' supply (how long one fill lasts)", 1, 65_535) : 0;
  for (const x of [quantity, fills, validDays, intervalDays, issueDays, supply]) if (refused(x)) out.push(x);
  const pharmacy = v.pharmacy.trim();
  if (pharmacy && !isAddress(pharmacy)) out.push({ field: 'pharmacy', message: 'Designated pharmacy: 0x followed by 40 hex digits, or leave it empty for any pharmacy.' });
  if (controlled && !pharmacy) out.push({ field: 'pharmacy', message: 'A controlled substance is sent to one designated pharmacy: enter its account.' });
  if (v.longTermCare && v.schedule !== 2) out.push({ field: 'longTermCare', message: 'Long-term care applies to schedule II prescriptions only (21 CFR 1306.13(b)).' });
  let start = now;
  if (v.firstFill) {
    const t = Date.parse(`${v.firstFill}T00:00:00Z`) / 1000;
    if (!Number.isFinite(t)) out.push({ field: 'firstFill', message: 'First fill: not a date.' });
    else start = Math.max(now, t);
  }
  if (out.length) return { refusals: out };
  const letter = SCHEDULE_LETTER[v.schedule];
  const listed = scheduleOf(code);
  const doc: MedicationRequest = {
    resourceType: 'MedicationRequest',
    authoredOn: rfc3339(now),
    issueDeadline: rfc3339(now + (issueDays as number) * DAY),
    ...(v.longTermCare ? { longTermCare: true } : {}),
    subject: { display: v.patientName.trim(), identifier: v.patientIdentifier.trim(), account: getAddress(v.patient.trim()) },
    requester: { account: me },
    medication: {
      coding: [{ system: RXNORM_SYSTEM, code, ...(listed ? { display: listed.name } : {}) }],
      text: v.drugName.trim(),
      strength: v.strength.trim(),
      ...(letter ? { controlledSubstanceSchedule: letter } : {}),
    },
    dosageInstruction: dosage.map((text) => ({ text })),
    dispenseRequest: {
      quantity: { value: quantity as number, unit: v.unit.trim() },
      numberOfRepeatsAllowed: (fills as number) - 1,
      validityPeriod: { start: rfc3339(start), end: rfc3339(start + (validDays as number) * DAY) },
      ...(intervalDays ? { dispenseInterval: { value: intervalDays as number, unit: 'd' as const } } : {}),
      ...(supply ? { expectedSupplyDuration: { value: supply as number, unit: 'd' as const } } : {}),
      ...(pharmacy ? { performer: { account: getAddress(pharmacy) } } : {}),
    },
    ...(v.substitution ? {} : { substitution: { allowedBoolean: false } }),
  };
  return { doc };
}
