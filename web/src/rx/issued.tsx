// The prescriptions a prescriber issued: status, fills, what was dispensed where and when; cancelling one.
import { useState } from 'preact/hooks';
import type { Address, Hex } from 'viem';
import type { AppConfig } from '../config';
import { scheduleName } from '../revert';
import { send } from '../tx';
import { Addr, busy, Section, Table, Time, TxStatus, useTx } from '../ui';

export interface IssuedRx {
  id: Hex;
  patient: Address;
  status: string;
  schedule: number;
  fills: number;
  fillsUsed: number;
  remainingQuantity: number;
  validUntil: string;
  issuedAt: string;
  relayed: boolean;
  cancelledBy: string | null;
  dispenses: { pharmacy: Address; quantity: number; fillNumber: number; timestamp: string }[];
}

/** The GraphQL fields of one IssuedRx. */
export const ISSUED_FIELDS = 'id patient status schedule fills fillsUsed remainingQuantity validUntil issuedAt relayed cancelledBy dispenses { pharmacy quantity fillNumber timestamp }';

/** Off-chain reason codes for a cancellation (the chain stores the number). */
const REASONS: [number, string][] = [
  [1, 'dose or drug changed'],
  [2, 'written in error'],
  [3, 'the patient asked'],
  [4, 'adverse reaction'],
  [9, 'other'],
];

/** Not yet cancelled, completed or expired. */
const cancellable = (r: IssuedRx) => !['CANCELLED', 'COMPLETED', 'EXPIRED'].includes(r.status);

function Dispensed({ r }: { r: IssuedRx }) {
  if (!r.dispenses.length) return <>none</>;
  return (
    <ul class="plain">
      {r.dispenses.map((d, i) => (
        <li key={i}>
          {d.quantity} (fill {d.fillNumber}) by <Addr a={d.pharmacy} />, <Time t={d.timestamp} />
        </li>
      ))}
    </ul>
  );
}

export function Issued({ config, rx }: { config: AppConfig; rx: IssuedRx[] }) {
  const [tx, setTx] = useTx();
  const [reason, setReason] = useState(1);
  const open = rx.some(cancellable);
  return (
    <Section title="Prescriptions you issued" id="issued">
      {rx.length === 0 ? (
        <p>None yet.</p>
      ) : (
        <>
          {open && (
            <label>
              Reason recorded when you cancel
              <select name="cancel-reason" value={String(reason)} onChange={(e) => setReason(Number(e.currentTarget.value))}>
                {REASONS.map(([n, text]) => (
                  <option key={n} value={String(n)}>
                    {text} (code {n})
                  </option>
                ))}
              </select>
            </label>
          )}
          <Table headers={['Issued', 'Patient', 'Schedule', 'Status', 'Fills used', 'Dispensed', <span class="sr">Actions</span>]}>
            {rx.map((r) => (
              <tr key={r.id} data-rx={r.id}>
                <td>
                  <Time t={r.issuedAt} />
                  {r.relayed && <span class="badge">relayed</span>}
                </td>
                <td>
                  <Addr a={r.patient} />
                </td>
                <td>{scheduleName(r.schedule)}</td>
                <td data-status={r.status}>
                  {r.status.toLowerCase()}
                  {r.cancelledBy ? ` by the ${r.cancelledBy}` : ''}
                </td>
                <td>
                  {r.fillsUsed} of {r.fills}
                </td>
                <td>
                  <Dispensed r={r} />
                </td>
                <td class="actions">
                  {cancellable(r) && (
                    <button
                      type="button"
                      disabled={busy(tx)}
                      aria-label={`Cancel prescription ${r.id.slice(0, 10)}`}
                      onClick={() => send(config, 'Prescriptions', 'cancel', [r.id, reason], setTx, `Cancel ${r.id.slice(0, 10)}…`)}
                    >
                      Cancel
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </Table>
        </>
      )}
      <TxStatus state={tx} config={config} />
    </Section>
  );
}
