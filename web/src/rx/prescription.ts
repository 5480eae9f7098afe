// The EIP-712 `Prescription` a prescriber's wallet signs (the clinical `PrescriptionContent` nested in it), as
// core/src/eip712.rs and contracts/src/Prescriptions.sol define it; its digest is the rxId. The prescription
// document (the FHIR-MedicationRequest-like JSON of src/rx/document.rs) and its conversion to the typed data,
// as `MedicationRequest::prescription` does it, so a patient copy made here is read by `medledger rx` and back.
import { getAddress, hashStruct, hashTypedData, zeroAddress, type Address, type Hex } from 'viem';

export const DOMAIN_NAME = 'medledger Prescriptions';
export const RXNORM_SYSTEM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

export const TYPES = {
  Prescription: [
    { name: 'patient', type: 'address' },
    { name: 'prescriber', type: 'address' },
    { name: 'content', type: 'PrescriptionContent' },
    { name: 'fills', type: 'uint8' },
    { name: 'quantityPerFill', type: 'uint32' },
    { name: 'daysSupply', type: 'uint16' },
    { name: 'dateWritten', type: 'uint32' },
    { name: 'earliestFillAt', type: 'uint32' },
    { name: 'validUntil', type: 'uint32' },
    { name: 'minFillInterval', type: 'uint32' },
    { name: 'schedule', type: 'uint8' },
    { name: 'longTermCare', type: 'bool' },
    { name: 'pharmacy', type: 'address' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint32' },
  ],
  PrescriptionContent: [
    { name: 'patientName', type: 'string' },
    { name: 'patientIdentifier', type: 'string' },
    { name: 'rxnormCode', type: 'string' },
    { name: 'drugName', type: 'string' },
    { name: 'strength', type: 'string' },
    { name: 'dosageInstructions', type: 'string' },
    { name: 'quantity', type: 'uint32' },
    { name: 'unit', type: 'string' },
    { name: 'substitutionAllowed', type: 'bool' },
    { name: 'salt', type: 'bytes32' },
  ],
} as const;

export interface Content {
  patientName: string;
  patientIdentifier: string;
  rxnormCode: string;
  drugName: string;
  strength: string;
  dosageInstructions: string;
  quantity: number;
  unit: string;
  substitutionAllowed: boolean;
  salt: Hex;
}

/** The typed data's message. */
export interface Prescription {
  patient: Address;
  prescriber: Address;
  content: Content;
  fills: number;
  quantityPerFill: number;
  daysSupply: number;
  dateWritten: number;
  earliestFillAt: number;
  validUntil: number;
  minFillInterval: number;
  schedule: number;
  longTermCare: boolean;
  pharmacy: Address;
  nonce: bigint;
  deadline: number;
}

/** A prescription and the deployment it is for: what a pharmacy needs (src/rx/ticket.rs `Ticket`). */
export interface Ticket {
  chainId: number;
  prescriptions: Address;
  prescription: Prescription;
}

export const domain = (chainId: number, prescriptions: Address) =>
  ({ name: DOMAIN_NAME, version: '1', chainId, verifyingContract: prescriptions }) as const;

/** The rxId: the EIP-712 digest the wallet signs. */
export const rxIdOf = (t: Ticket): Hex =>
  hashTypedData({ domain: domain(t.chainId, t.prescriptions), types: TYPES, primaryType: 'Prescription', message: t.prescription });

/** The content hash sent on chain: the EIP-712 struct hash of the content. */
export const contentHashOf = (c: Content): Hex => hashStruct({ types: TYPES, primaryType: 'PrescriptionContent', data: c });

/** The terms sent on chain (`RxTerms`): the message with the content replaced by its hash. */
export function termsOf(p: Prescription) {
  const { content, ...terms } = p;
  return { ...terms, contentHash: contentHashOf(content) };
}

// ---- The document (src/rx/document.rs), resolved: absolute times, no validityDuration. ----

export type ScheduleLetter = 'II' | 'III' | 'IV' | 'V';
export type TimeUnit = 's' | 'min' | 'h' | 'd' | 'wk';
export interface Duration {
  value: number;
  unit: TimeUnit;
}
export interface Party {
  display?: string;
  account: Address;
}
export interface MedicationRequest {
  resourceType: 'MedicationRequest';
  authoredOn?: string;
  issueDeadline?: string;
  longTermCare?: boolean;
  subject: { display: string; identifier: string; account: Address };
  requester: Party;
  medication: {
    coding: { system: string; code: string; display?: string }[];
    text: string;
    strength: string;
    controlledSubstanceSchedule?: ScheduleLetter;
  };
  dosageInstruction: { text: string }[];
  dispenseRequest: {
    quantity: { value: number; unit: string };
    numberOfRepeatsAllowed?: number;
    validityPeriod?: { start?: string; end?: string };
    validityDuration?: Duration;
    dispenseInterval?: Duration;
    expectedSupplyDuration?: Duration;
    performer?: Party;
  };
  substitution?: { allowedBoolean: boolean };
}

export const SCHEDULE_NUMBER: Record<ScheduleLetter, number> = { II: 2, III: 3, IV: 4, V: 5 };
export const SCHEDULE_LETTER: Record<number, ScheduleLetter | undefined> = { 2: 'II', 3: 'III', 4: 'IV', 5: 'V' };
const UNIT_SECONDS: Record<TimeUnit, number> = { s: 1, min: 60, h: 3_600, d: 86_400, wk: 604_800 };

export class DocumentError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

export const seconds = (d: Duration) => d.value * UNIT_SECONDS[d.unit];

/** An RFC 3339 time (as chrono writes it) from unix seconds. */
export const rfc3339 = (t: number) => new Date(t * 1000).toISOString().replace('.000Z', 'Z');

function unix(path: string, value: string | undefined): number {
  const t = value ? Date.parse(value) : NaN;
  if (!Number.isFinite(t)) throw new DocumentError(path, `missing or not an RFC 3339 time: ${String(value)}`);
  return Math.floor(t / 1000);
}

/** The RxNorm code of the document (exactly one RxNorm coding). */
export function rxnormCode(doc: MedicationRequest): string {
  const codes = doc.medication.coding.filter((c) => c.system === RXNORM_SYSTEM);
  if (codes.length !== 1) throw new DocumentError('medication.coding', codes.length ? 'more than one RxNorm coding' : `no RxNorm coding (a coding with system "${RXNORM_SYSTEM}")`);
  return codes[0].code;
}

/** `MedicationRequest::prescription`: the typed data of a resolved document with `salt` and `nonce`. */
export function prescriptionOf(doc: MedicationRequest, salt: Hex, nonce: bigint): Prescription {
  const dr = doc.dispenseRequest;
  const supply = dr.expectedSupplyDuration ? Math.ceil(seconds(dr.expectedSupplyDuration) / 86_400) : 0;
  return {
    patient: getAddress(doc.subject.account),
    prescriber: getAddress(doc.requester.account),
    content: {
      patientName: doc.subject.display,
      patientIdentifier: doc.subject.identifier,
      rxnormCode: rxnormCode(doc),
      drugName: doc.medication.text,
      strength: doc.medication.strength,
      dosageInstructions: doc.dosageInstruction.map((d) => d.text).join('\n'),
      quantity: dr.quantity.value,
      unit: dr.quantity.unit,
      substitutionAllowed: doc.substitution?.allowedBoolean ?? true,
      salt,
    },
    fills: (dr.numberOfRepeatsAllowed ?? 0) + 1,
    quantityPerFill: dr.quantity.value,
    daysSupply: supply,
    dateWritten: unix('authoredOn', doc.authoredOn),
    earliestFillAt: unix('dispenseRequest.validityPeriod.start', dr.validityPeriod?.start),
    validUntil: unix('dispenseRequest.validityPeriod.end', dr.validityPeriod?.end),
    minFillInterval: dr.dispenseInterval ? seconds(dr.dispenseInterval) : 0,
    schedule: doc.medication.controlledSubstanceSchedule ? SCHEDULE_NUMBER[doc.medication.controlledSubstanceSchedule] : 0,
    longTermCare: doc.longTermCare ?? false,
    pharmacy: dr.performer ? getAddress(dr.performer.account) : zeroAddress,
    nonce,
    deadline: unix('issueDeadline', doc.issueDeadline),
  };
}
