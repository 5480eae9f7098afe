// A prescription's signed terms, field by field, as the wallet receives them (eth_signTypedData_v4), each
// with its meaning: the prescriber reviews exactly this before signing; the pharmacy sees the same.
import { zeroAddress } from 'viem';
import { scheduleName, timeText } from '../revert';
import type { Prescription, Ticket } from './prescription';

const when = (t: number) => timeText(t);
const days = (s: number) => (s % 86_400 === 0 ? `${s / 86_400} days` : `${s} s`);

type Row = [field: string, raw: string, meaning: string];

export function termRows(p: Prescription): { content: Row[]; terms: Row[] } {
  const c = p.content;
  return {
    content: [
      ['patientName', c.patientName, 'the patient'],
      ['patientIdentifier', c.patientIdentifier, "the patient's identifier"],
      ['rxnormCode', c.rxnormCode, 'RxNorm code (RxCUI)'],
      ['drugName', c.drugName, 'the drug'],
      ['strength', c.strength, 'strength'],
      ['dosageInstructions', c.dosageInstructions, 'how to take it'],
      ['quantity', String(c.quantity), 'units per fill'],
      ['unit', c.unit, 'unit'],
      ['substitutionAllowed', String(c.substitutionAllowed), c.substitutionAllowed ? 'a generic may be dispensed' : 'no substitution'],
      ['salt', c.salt, 'random secret hiding the content on chain'],
    ],
    terms: [
      ['patient', p.patient, "the patient's account"],
      ['prescriber', p.prescriber, "the prescriber's account (the signer)"],
      ['fills', String(p.fills), p.fills === 1 ? 'one fill, no refills' : `${p.fills} fills (${p.fills - 1} refills)`],
      ['quantityPerFill', String(p.quantityPerFill), `${p.quantityPerFill} ${c.unit} per fill`],
      ['daysSupply', String(p.daysSupply), p.daysSupply ? `one fill lasts ${p.daysSupply} days` : 'not stated'],
      ['dateWritten', String(p.dateWritten), when(p.dateWritten)],
      ['earliestFillAt', String(p.earliestFillAt), `first fill from ${when(p.earliestFillAt)}`],
      ['validUntil', String(p.validUntil), `no dispense from ${when(p.validUntil)}`],
      ['minFillInterval', String(p.minFillInterval), p.minFillInterval ? `fills at least ${days(p.minFillInterval)} apart` : 'no minimum interval'],
      ['schedule', String(p.schedule), scheduleName(p.schedule)],
      ['longTermCare', String(p.longTermCare), p.longTermCare ? 'long-term care or terminally ill (schedule II: 60 days)' : 'no'],
      ['pharmacy', p.pharmacy, p.pharmacy === zeroAddress ? 'any licensed pharmacy' : 'the designated pharmacy'],
      ['nonce', p.nonce.toString(), "the prescriber's nonce"],
      ['deadline', String(p.deadline), `must be issued before ${when(p.deadline)}`],
    ],
  };
}

function Rows({ rows, prefix }: { rows: Row[]; prefix: string }) {
  return (
    <>
      {rows.map(([field, raw, meaning]) => (
        <tr key={field} data-field={`${prefix}${field}`}>
          <th scope="row">
            <code>{prefix + field}</code>
          </th>
          <td>
            <code class="raw">{raw}</code>
          </td>
          <td>{meaning}</td>
        </tr>
      ))}
    </>
  );
}

/** The typed data's message as a table; `caption` names it for screen readers. */
export function Terms({ ticket, caption }: { ticket: Ticket; caption: string }) {
  const { content, terms } = termRows(ticket.prescription);
  return (
    <div class="scroll" tabIndex={0}>
      <table class="terms">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Field</th>
            <th scope="col">Value signed</th>
            <th scope="col">Meaning</th>
          </tr>
        </thead>
        <tbody>
          <Rows rows={terms.slice(0, 2)} prefix="" />
          <Rows rows={content} prefix="content." />
          <Rows rows={terms.slice(2)} prefix="" />
        </tbody>
      </table>
    </div>
  );
}

/** One line: drug, strength, quantity, fills, schedule. */
export function summary(p: Prescription): string {
  const c = p.content;
  return `${c.drugName} ${c.strength} (RxNorm ${c.rxnormCode}, ${scheduleName(p.schedule)}), ${p.quantityPerFill} ${c.unit} × ${p.fills} fill${p.fills === 1 ? '' : 's'}`;
}
