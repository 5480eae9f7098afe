// The patient shows a prescription's code to the pharmacy: she loads the copy her prescriber gave her (the
// chain holds only a hash: without the copy there is no code), sees its status and fills left from the chain
// and the code as a QR. The copy is read in the browser only.
import { useState } from 'preact/hooks';
import type { Address } from 'viem';
import type { AppConfig } from '../config';
import { send } from '../tx';
import { busy, ErrorText, Section, TxStatus, useTx } from '../ui';
import { parseCopy, toCode } from './copy';
import { TextFile } from './files';
import { termsOf, type Ticket } from './prescription';
import { PrintableRx } from './print';

export interface KnownRx {
  id: string;
  status: string;
  fills: number;
  fillsUsed: number;
  remainingQuantity: number;
}

const STATUS: Record<string, string> = {
  FILLABLE: 'can be filled now',
  WAITING: 'waiting for the next fill',
  COMPLETED: 'completed',
  EXPIRED: 'expired',
  CANCELLED: 'cancelled',
};

export function PatientCodes({ config, me, rx }: { config: AppConfig; me: Address; rx: KnownRx[] }) {
  const [tx, setTx] = useTx();
  const [loaded, setLoaded] = useState<{ ticket: Ticket; rxId: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = (text: string) => {
    setError(null);
    try {
      const { copy, ticket } = parseCopy(text);
      if (ticket.prescription.patient.toLowerCase() !== me.toLowerCase()) {
        setLoaded(null);
        return setError(`This copy is for patient ${ticket.prescription.patient}, not for you (${me}).`);
      }
      setLoaded({ ticket, rxId: copy.rxId });
    } catch (e) {
      setLoaded(null);
      setError(`This file is not a readable patient copy: ${(e as Error).message}.`);
    }
  };
  const chain = loaded && rx.find((r) => r.id.toLowerCase() === loaded.rxId.toLowerCase());
  return (
    <Section title="Show a prescription to the pharmacy" id="rx-code">
      <p>Load the prescription file your doctor gave you: its code, shown as a QR code, is what the pharmacy scans.</p>
      <TextFile label="Your prescription file (patient copy)" name="patient-copy" accept=".json,application/json" onText={load} onError={setError} />
      <ErrorText error={error} />
      {loaded && (
        <div data-testid="loaded-rx">
          <PrintableRx ticket={loaded.ticket} code={toCode(loaded.ticket)} label="QR code of your prescription" print="Print the code">
            <p data-testid="loaded-status">
            {chain
              ? `Status: ${STATUS[chain.status] ?? chain.status}; ${chain.fills - chain.fillsUsed} of ${chain.fills} fills left, ${chain.remainingQuantity} units left.`
              : 'Not issued on this chain yet (or not indexed yet): the pharmacy cannot dispense it until it is.'}
            </p>
          </PrintableRx>
          {chain && ['FILLABLE', 'WAITING'].includes(chain.status) && (
            <p>
              {/* Her copy proves the terms: she may cancel her own prescription (reason code 3: the patient asked). */}
              <button
                type="button"
                class="danger"
                disabled={busy(tx)}
                onClick={() => send(config, 'Prescriptions', 'cancelAsPatient', [termsOf(loaded.ticket.prescription), 3], setTx, 'Cancel this prescription')}
              >
                Cancel this prescription
              </button>
            </p>
          )}
          <TxStatus state={tx} config={config} />
        </div>
      )}
    </Section>
  );
}
