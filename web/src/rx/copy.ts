// The patient's copy (src/rx/copy.rs, format "medledger-rx/1") and the prescription code (src/rx/ticket.rs,
// `MEDRX2:` + base64url(RLP(fields) ‖ keccak256(RLP)[..4])), made and read in the browser: the document and
// its salt never leave it except as this file or this code, in the patient's hands.
import { bytesToHex, fromRlp, getAddress, hexToBigInt, hexToBytes, keccak256, numberToHex, toRlp, type Address, type Hex } from 'viem';
import { contentHashOf, prescriptionOf, rxIdOf, type MedicationRequest, type Ticket } from './prescription';

export const COPY_FORMAT = 'medledger-rx/1';
export const CODE_PREFIX = 'MEDRX2:';
const CHECKSUM_LEN = 4;

export interface PatientCopy {
  format: typeof COPY_FORMAT;
  chainId: number;
  prescriptions: Address;
  rxId: Hex;
  contentHash: Hex;
  salt: Hex;
  /** U256 as alloy writes it: 0x-prefixed hex. */
  nonce: string;
  medicationRequest: MedicationRequest;
  issued?: { txHash: Hex; blockNumber: number };
}

/** The copy of a resolved document for `chainId` / `prescriptions`. */
export function makeCopy(doc: MedicationRequest, chainId: number, prescriptions: Address, salt: Hex, nonce: bigint): { copy: PatientCopy; ticket: Ticket } {
  const prescription = prescriptionOf(doc, salt, nonce);
  const ticket = { chainId, prescriptions: getAddress(prescriptions), prescription };
  const copy: PatientCopy = {
    format: COPY_FORMAT,
    chainId,
    prescriptions: ticket.prescriptions,
    rxId: rxIdOf(ticket),
    contentHash: contentHashOf(prescription.content),
    salt,
    nonce: numberToHex(nonce),
    medicationRequest: doc,
  };
  return { copy, ticket };
}

export const copyJson = (copy: PatientCopy) => `${JSON.stringify(copy, null, 2)}\n`;

export class CodeError extends Error {}

/** Reads a patient copy, checking that its rxId and content hash are the ones its document gives. */
export function parseCopy(text: string): { copy: PatientCopy; ticket: Ticket } {
  let json: PatientCopy;
  try {
    json = JSON.parse(text) as PatientCopy;
  } catch (e) {
    throw new CodeError(`the patient copy is not JSON: ${(e as Error).message}`);
  }
  if (json?.format !== COPY_FORMAT) throw new CodeError(`not a patient copy: its format is ${JSON.stringify(json?.format)}, not "${COPY_FORMAT}"`);
  let made;
  try {
    made = makeCopy(json.medicationRequest, Number(json.chainId), json.prescriptions, json.salt, BigInt(json.nonce));
  } catch (e) {
    throw new CodeError(`the patient copy is malformed: ${(e as Error).message}`);
  }
  for (const field of ['contentHash', 'rxId'] as const) {
    if (made.copy[field].toLowerCase() !== String(json[field]).toLowerCase()) {
      throw new CodeError(`the patient copy was altered: its ${field} is ${json[field]} but its document gives ${made.copy[field]}`);
    }
  }
  return { copy: json, ticket: made.ticket };
}

// RLP as alloy-rlp writes these types: integers big-endian without leading zeros (0 = empty string),
// bool as 0x01 / empty, addresses and hashes as fixed-length strings, text as UTF-8 bytes.
function int(n: number | bigint): Hex {
  const h = BigInt(n).toString(16);
  return BigInt(n) === 0n ? '0x' : `0x${h.length % 2 ? '0' : ''}${h}`;
}
const text = (s: string): Hex => bytesToHex(new TextEncoder().encode(s));

/** The compact text for a QR code. */
export function toCode(t: Ticket): string {
  const p = t.prescription;
  const c = p.content;
  const payload = hexToBytes(
    toRlp([
      int(t.chainId), t.prescriptions, p.patient, p.prescriber, int(p.fills), int(p.quantityPerFill), int(p.daysSupply), int(p.dateWritten),
      int(p.earliestFillAt), int(p.validUntil), int(p.minFillInterval), int(p.schedule), int(p.longTermCare ? 1 : 0), p.pharmacy, int(p.nonce),
      int(p.deadline), text(c.patientName), text(c.patientIdentifier), text(c.rxnormCode), text(c.drugName), text(c.strength),
      text(c.dosageInstructions), int(c.quantity), text(c.unit), int(c.substitutionAllowed ? 1 : 0), c.salt,
    ]),
  );
  const checksum = hexToBytes(keccak256(payload)).slice(0, CHECKSUM_LEN);
  const all = new Uint8Array(payload.length + CHECKSUM_LEN);
  all.set(payload);
  all.set(checksum, payload.length);
  let bin = '';
  for (const b of all) bin += String.fromCharCode(b);
  return CODE_PREFIX + btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodeInt(field: string, v: unknown, bits: number): bigint {
  if (typeof v !== 'string') throw new CodeError(`malformed payload: ${field} is a list`);
  if (v === '0x') return 0n;
  if (v.startsWith('0x00')) throw new CodeError(`malformed payload: ${field} has a leading zero`);
  const n = hexToBigInt(v as Hex);
  if (n >> BigInt(bits)) throw new CodeError(`malformed payload: ${field} overflows ${bits} bits`);
  return n;
}
function decodeFixed(field: string, v: unknown, bytes: number): Hex {
  if (typeof v !== 'string' || v.length !== 2 + 2 * bytes) throw new CodeError(`malformed payload: ${field} is not ${bytes} bytes`);
  return v as Hex;
}
function decodeBool(field: string, v: unknown): boolean {
  const n = decodeInt(field, v, 8);
  if (n > 1n) throw new CodeError(`malformed payload: ${field} is not a boolean`);
  return n === 1n;
}
function decodeText(field: string, v: unknown): string {
  if (typeof v !== 'string') throw new CodeError(`malformed payload: ${field} is a list`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(hexToBytes(v as Hex));
  } catch {
    throw new CodeError(`malformed payload: ${field} is not UTF-8`);
  }
}

/** Decodes a prescription code, checking its version and checksum (the same errors as `medledger rx`). */
export function fromCode(input: string): Ticket {
  const code = input.trim();
  if (!code.startsWith(CODE_PREFIX)) {
    const version = code.split(':')[0];
    throw new CodeError(version.startsWith('MEDRX') && code.includes(':') ? `unsupported version ${version} (this medledger reads ${CODE_PREFIX})` : `does not start with ${CODE_PREFIX}`);
  }
  const body = code.slice(CODE_PREFIX.length);
  if (!/^[A-Za-z0-9_-]*$/.test(body) || body.length % 4 === 1) throw new CodeError('not base64url (was the code cut or mistyped?)');
  const bin = atob(body.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  if (bytes.length <= CHECKSUM_LEN) throw new CodeError('too short');
  const payload = bytes.slice(0, bytes.length - CHECKSUM_LEN);
  const checksum = bytesToHex(bytes.slice(bytes.length - CHECKSUM_LEN));
  if (keccak256(payload).slice(0, 2 + 2 * CHECKSUM_LEN) !== checksum) throw new CodeError('checksum mismatch: the code is damaged or mistyped');
  let f: unknown;
  try {
    f = fromRlp(payload, 'hex');
  } catch (e) {
    throw new CodeError(`malformed payload: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!Array.isArray(f) || f.length !== 26) throw new CodeError('malformed payload: not the 26 fields of a MEDRX2 code');
  const n = (i: number, name: string, bits: number) => Number(decodeInt(name, f[i], bits));
  const addr = (i: number, name: string) => getAddress(decodeFixed(name, f[i], 20));
  return {
    chainId: n(0, 'chainId', 64),
    prescriptions: addr(1, 'prescriptions'),
    prescription: {
      patient: addr(2, 'patient'),
      prescriber: addr(3, 'prescriber'),
      fills: n(4, 'fills', 8),
      quantityPerFill: n(5, 'quantityPerFill', 32),
      daysSupply: n(6, 'daysSupply', 16),
      dateWritten: n(7, 'dateWritten', 32),
      earliestFillAt: n(8, 'earliestFillAt', 32),
      validUntil: n(9, 'validUntil', 32),
      minFillInterval: n(10, 'minFillInterval', 32),
      schedule: n(11, 'schedule', 8),
      longTermCare: decodeBool('longTermCare', f[12]),
      pharmacy: addr(13, 'pharmacy'),
      nonce: decodeInt('nonce', f[14], 256),
      deadline: n(15, 'deadline', 32),
      content: {
        patientName: decodeText('patientName', f[16]),
        patientIdentifier: decodeText('patientIdentifier', f[17]),
        rxnormCode: decodeText('rxnormCode', f[18]),
        drugName: decodeText('drugName', f[19]),
        strength: decodeText('strength', f[20]),
        dosageInstructions: decodeText('dosageInstructions', f[21]),
        quantity: n(22, 'quantity', 32),
        unit: decodeText('unit', f[23]),
        substitutionAllowed: decodeBool('substitutionAllowed', f[24]),
        salt: decodeFixed('salt', f[25], 32),
      },
    },
  };
}

/** A patient copy (JSON) or a code (`MEDRX2:…`), as `Ticket::parse` reads them. */
export function readTicket(input: string): { ticket: Ticket; copy?: PatientCopy } {
  const t = input.trim();
  if (t.startsWith('MEDRX')) return { ticket: fromCode(t) };
  if (t.startsWith('{')) return parseCopy(t);
  throw new CodeError(`neither a patient copy (JSON object) nor a prescription code (${CODE_PREFIX}…)`);
}
