// The patient's printed prescription: the readable prescription, its QR code and its code as text, alone on
// the page (style.css: `html.print-rx` under `@media print`). Shared by the patient's page (her loaded copy)
// and the prescriber's page (after signing).
import type { ComponentChildren } from 'preact';
import { scheduleName, timeText } from '../revert';
import type { Ticket } from './prescription';
import { Qr } from './qr';
import { summary } from './terms';

/** Prints the element marked `data-print="rx"` only. */
function printRx() {
  const root = document.documentElement;
  root.classList.add('print-rx');
  window.addEventListener('afterprint', () => root.classList.remove('print-rx'), { once: true });
  window.print();
}

/** The rest of the prescription as the patient and a pharmacist read it on paper (print only). */
function Details({ ticket }: { ticket: Ticket }) {
  const p = ticket.prescription;
  const c = p.content;
  return (
    <div class="print-keep print-only">
      <dl data-testid="print-details">
        <dt>Patient</dt>
        <dd>
          {c.patientName} ({c.patientIdentifier}), account {p.patient}
        </dd>
        <dt>How to take it</dt>
        <dd>{c.dosageInstructions}</dd>
        <dt>Substitution</dt>
        <dd>{c.substitutionAllowed ? 'a generic may be dispensed' : 'no substitution'}</dd>
        <dt>Schedule</dt>
        <dd>{scheduleName(p.schedule)}</dd>
        <dt>Written</dt>
        <dd>
          {timeText(p.dateWritten)} by prescriber {p.prescriber}
        </dd>
        <dt>Fill</dt>
        <dd>
          from {timeText(p.earliestFillAt)}; not after {timeText(p.validUntil)}
          {p.daysSupply ? `; one fill lasts ${p.daysSupply} days` : ''}
        </dd>
      </dl>
    </div>
  );
}

/**
 * A prescription for the patient: its drug line, its QR code and its code, and (on paper) the rest of it;
 * `children` show on screen only (e.g. its status); a button prints it.
 */
export function PrintableRx({ ticket, code, label, print, children }: {
  ticket: Ticket;
  code: string;
  label: string;
  /** The print button's text. */
  print: string;
  children?: ComponentChildren;
}) {
  return (
    <div data-testid="printable-rx" data-print="rx">
      <p class="print-keep" data-testid="print-drug">
        <strong>{summary(ticket.prescription)}</strong>
      </p>
      {children}
      <div class="print-keep">
        <Qr code={code} label={label} />
        <p class="print-only code-text" data-testid="print-code">
          {code}
        </p>
      </div>
      <Details ticket={ticket} />
      <p>
        <button type="button" onClick={printRx}>
          {print}
        </button>
      </p>
    </div>
  );
}
