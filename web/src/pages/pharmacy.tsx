// The pharmacy: reads a prescription (camera QR scan, pasted code or the patient's copy), verifies it as
// `medledger rx verify` does (the API's verifyPrescription, proving the content hash, plus the declared
// schedule against the bundled table), dispenses a quantity (schedule II partial fills), and keeps its queue
// and history live.
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { bytesToHex, keccak256, toHex, type Address, type Hex } from 'viem';
import type { AppConfig } from '../config';
import type { PageProps } from './common';
import { useLive } from '../data';
import { scheduleName } from '../revert';
import { explain, read, send } from '../tx';
import { Addr, busy, ErrorText, Live, Section, Table, Time, TxStatus, useTx } from '../ui';
import { account } from '../wallet';
import { ConnectFirst } from './common';
import { CredentialLine, type Credential } from './credential';
import { readTicket } from '../rx/copy';
import { TextFile } from '../rx/files';
import { contentHashOf, rxIdOf, type Ticket } from '../rx/prescription';
import { checkDeclared, tableVersion } from '../rx/schedule';
import { summary, Terms } from '../rx/terms';

type ScannerType = ComponentType<{ onCode: (text: string) => void }>;
let scannerModule: Promise<ScannerType> | null = null;
/** The scanner (camera and QR decoder) is loaded the first time it is asked for. */
const loadScanner = () => (scannerModule ??= import('../rx/scan').then((m) => m.Scanner));

interface QueueRx {
  id: Hex;
  patient: Address;
  schedule: number;
  status: string;
  fills: number;
  fillsUsed: number;
  remainingQuantity: number;
  validUntil: string;
}
interface Dispense {
  rxId: Hex;
  fillNumber: number;
  quantity: number;
  totalDispensed: string;
  timestamp: string;
  blockNumber: number;
}
interface Data {
  pharmacy: { credential: Credential | null; queue: { nodes: QueueRx[] }; dispenses: { nodes: Dispense[] } };
}
const QUERY = `query Pharmacy($a: Address!) {
  pharmacy(address: $a) {
    credential { account credentialId kind status statusReason expiresAt schedules activeNow jurisdiction }
    queue(first: 50) { nodes { id patient schedule status fills fillsUsed remainingQuantity validUntil } }
    dispenses(last: 50) { nodes { rxId fillNumber quantity totalDispensed timestamp blockNumber } }
  }
}`;

const VERIFY = `query Verify($id: Bytes32!, $contentHash: Bytes32!, $pharmacy: Address!) {
  verifyPrescription(id: $id, contentHash: $contentHash, pharmacy: $pharmacy) {
    valid failures { reason message } at asOf contentHashProven quantityAvailable
    prescription { status fills fillsUsed remainingQuantity quantityDispensed shortSupplyUntil }
  }
}`;

interface Verdict {
  valid: boolean;
  failures: { reason: string; message: string }[];
  at: string;
  asOf: string;
  contentHashProven: boolean;
  quantityAvailable: number;
  prescription: { status: string; fills: number; fillsUsed: number; remainingQuantity: number; quantityDispensed: string; shortSupplyUntil: string | null } | null;
}

export default function Pharmacy({ config }: PageProps) {
  const me = account.value;
  const live = useLive<Data>(QUERY, me ? { a: me } : null, me ? { accounts: [me] } : null);
  const [ticket, setTicket] = useState<Ticket | null>(null);
  if (!me) return <ConnectFirst role="pharmacy" />;
  const d = live.data?.pharmacy;
  return (
    <>
      <h1>Verify and dispense</h1>
      <p>
        Pharmacy <Addr a={me} />
      </p>
      <Live updated={live.updated} />
      <ErrorText error={live.error} />
      {!d ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <>
          {d.credential ? <CredentialLine c={d.credential} /> : <p class="warn">This account holds no pharmacy license: the contract will refuse its dispenses.</p>}
          <Read onTicket={setTicket} />
          {ticket && <Check key={rxIdOf(ticket)} config={config} me={me} ticket={ticket} updated={live.updated} />}
          <Queue rx={d.queue.nodes} />
          <History dispenses={d.dispenses.nodes} />
        </>
      )}
    </>
  );
}

function Read({ onTicket }: { onTicket: (t: Ticket) => void }) {
  const [scanning, setScanning] = useState(false);
  const [Scanner, setScanner] = useState<ScannerType | null>(null);
  useEffect(() => {
    if (scanning && !Scanner) loadScanner().then((c) => setScanner(() => c), (e: unknown) => setError(`The scanner failed to load: ${String(e)}`));
  }, [scanning]);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const take = (input: string) => {
    setError(null);
    try {
      onTicket(readTicket(input).ticket);
    } catch (e) {
      setError(`This is not a readable prescription: ${(e as Error).message}.`);
    }
  };
  return (
    <Section title="The patient's prescription" id="read">
      <div class="actions">
        <button type="button" onClick={() => setScanning(!scanning)} aria-pressed={scanning}>
          {scanning ? 'Stop the camera' : 'Scan the QR code with the camera'}
        </button>
      </div>
      {scanning &&
        (Scanner ? (
          <Scanner
            onCode={(code) => {
              setScanning(false);
              setText(code);
              take(code);
            }}
          />
        ) : (
          <p aria-busy="true">Loading the scanner…</p>
        ))}
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          take(text);
        }}
      >
        <label>
          Or paste the code (MEDRX2:…) or the patient copy
          <textarea name="code" rows={3} value={text} onInput={(e) => setText(e.currentTarget.value)} spellcheck={false} />
        </label>
        <button type="submit" disabled={!text.trim()}>
          Read the prescription
        </button>
        <TextFile label="Or load the patient copy (file)" name="copy" accept=".json,application/json,text/plain" onText={take} onError={setError} />
      </form>
      <ErrorText error={error} />
    </Section>
  );
}

/** Every reason not to dispense, as `medledger rx verify` prints them: deployment, schedule table, the API's failures. */
function reasonsOf(config: AppConfig, ticket: Ticket, verdict: Verdict | null): { reason: string; message: string }[] {
  const out: { reason: string; message: string }[] = [];
  if (ticket.chainId !== config.chainId || ticket.prescriptions.toLowerCase() !== config.contracts?.Prescriptions.toLowerCase()) {
    out.push({
      reason: 'OTHER_DEPLOYMENT',
      message: `the prescription is for chain ${ticket.chainId} at ${ticket.prescriptions}, not this deployment (chain ${config.chainId}, ${config.contracts?.Prescriptions})`,
    });
  }
  const p = ticket.prescription;
  const mismatch = checkDeclared(p.content.rxnormCode, p.schedule);
  if (mismatch) out.push({ reason: 'SCHEDULE_MISMATCH', message: mismatch });
  if (verdict) out.push(...verdict.failures);
  return out;
}

function Check({ config, me, ticket, updated }: { config: AppConfig; me: Address; ticket: Ticket; updated: string | null }) {
  const [quantity, setQuantity] = useState('');
  const [short, setShort] = useState(false);
  const [record, setRecord] = useState<string | null>(null);
  const [tx, setTx] = useTx();
  const p = ticket.prescription;
  const rxId = rxIdOf(ticket);
  const contentHash = contentHashOf(p.content);

  // Again on every event of this prescription (a dispense, a cancellation by its prescriber, patient or a
  // registrar: these do not name the pharmacy) and whenever this pharmacy's data changed.
  const checked = useLive<{ verifyPrescription: Verdict }>(VERIFY, { id: rxId, contentHash, pharmacy: me }, { rxId });
  const verdict = checked.data?.verifyPrescription ?? null;
  const error = checked.error && `The API could not verify: ${checked.error}`;
  const verify = checked.reload;
  useEffect(() => {
    if (updated) verify();
  }, [updated]);

  const reasons = reasonsOf(config, ticket, verdict);
  const dispensable = verdict != null && verdict.valid && reasons.length === 0;

  const dispense = async (e: Event) => {
    e.preventDefault();
    setRecord(null);
    const n = Number(quantity || verdict?.quantityAvailable);
    if (!Number.isInteger(n) || n < 1) return setTx({ phase: 'failed', label: 'Dispense', message: 'Enter the units dispensed: a whole number, at least 1.' });
    try {
      // The total as read now: a retried or raced dispense then reverts instead of counting twice.
      const [, totalDispensed] = await read<[unknown, bigint, bigint]>(config, 'Prescriptions', 'prescriptionOf', [rxId]);
      const salt = bytesToHex(crypto.getRandomValues(new Uint8Array(32)));
      const text = `${rxId}:${me}:${n}:${Math.floor(Date.now() / 1000)}:${salt}`;
      const ok = await send(config, 'Prescriptions', 'dispense', [rxId, n, totalDispensed, short && p.schedule === 2, keccak256(toHex(text))], setTx, `Dispense ${n} ${p.content.unit}`);
      if (ok) {
        setRecord(text);
        setQuantity('');
        setShort(false);
        verify();
      }
    } catch (err) {
      setTx({ phase: 'failed', label: 'Dispense', message: explain(err) });
    }
  };

  const rx = verdict?.prescription;
  return (
    <Section title="Verification" id="verify" focus>
      <p>
        <strong data-testid="rx-summary">{summary(p)}</strong>
      </p>
      <p>
        For {p.content.patientName} ({p.content.patientIdentifier}), <Addr a={p.patient} />; prescribed by <Addr a={p.prescriber} />.
        <br />
        Take: {p.content.dosageInstructions}. {p.content.substitutionAllowed ? 'A generic may be dispensed.' : 'No substitution.'}
      </p>
      <p class="small">
        Prescription <code data-testid="verify-rx-id">{rxId}</code>
      </p>
      <ErrorText error={error} />
      {!verdict ? (
        <p aria-busy="true">Verifying…</p>
      ) : (
        <div data-testid="verdict" data-valid={String(dispensable)}>
          <p>
            Content {verdict.contentHashProven ? 'proven against the issued terms' : 'not proven'}; schedule{' '}
            {checkDeclared(p.content.rxnormCode, p.schedule) ? 'does not match' : `${scheduleName(p.schedule)}, as in`} the controlled-substance table {tableVersion}; evaluated at{' '}
            <Time t={verdict.at} />.
          </p>
          {dispensable ? (
            <p class="ok" role="status">
              <strong>Dispensable</strong>: up to {verdict.quantityAvailable} {p.content.unit} now
              {rx ? ` (fill ${Math.max(rx.fillsUsed, 1)} of ${rx.fills}, ${rx.remainingQuantity} units left in all)` : ''}.
              {rx?.shortSupplyUntil && (
                <span data-testid="short-supply">
                  {' '}
                  The pharmacy was short: the balance is due before <Time t={rx.shortSupplyUntil} /> (21 CFR 1306.13(a)).
                </span>
              )}
            </p>
          ) : (
            <div role="alert" class="error">
              <p>
                <strong>Not dispensable</strong>:
              </p>
              <ul data-testid="reasons">
                {reasons.map((r) => (
                  <li key={r.reason + r.message} data-reason={r.reason}>
                    {r.message.charAt(0).toUpperCase() + r.message.slice(1)}.
                  </li>
                ))}
              </ul>
            </div>
          )}
        </div>
      )}
      {dispensable && (
        <form class="form" onSubmit={dispense}>
          <label>
            Units to dispense (at most {verdict!.quantityAvailable}; fewer is a partial fill)
            <input name="quantity" inputMode="numeric" value={quantity} placeholder={String(verdict!.quantityAvailable)} onInput={(e) => setQuantity(e.currentTarget.value)} />
          </label>
          {p.schedule === 2 && (
            <label class="inline">
              <input type="checkbox" name="short" checked={short} onChange={(e) => setShort(e.currentTarget.checked)} />
              We are short: the balance is due within 72 hours (21 CFR 1306.13(a)); otherwise a partial fill the patient or prescriber asked for
            </label>
          )}
          <button type="submit" disabled={busy(tx)}>
            Dispense
          </button>
        </form>
      )}
      <TxStatus state={tx} config={config} />
      {record && (
        <p class="small">
          Your dispensing record (keep it: its keccak256 is the hash on chain): <code class="hash">{record}</code>
        </p>
      )}
      <details>
        <summary>The signed terms</summary>
        <Terms ticket={ticket} caption="The prescription as the prescriber signed it" />
      </details>
    </Section>
  );
}

function Queue({ rx }: { rx: QueueRx[] }) {
  return (
    <Section title="Prescriptions sent to this pharmacy" id="queue">
      {rx.length === 0 ? (
        <p>None open.</p>
      ) : (
        <Table headers={['Prescription', 'Patient', 'Schedule', 'Status', 'Fills used', 'Units left', 'Valid until']}>
          {rx.map((r) => (
            <tr key={r.id} data-rx={r.id}>
              <td>
                <code title={r.id}>{r.id.slice(0, 10)}…</code>
              </td>
              <td>
                <Addr a={r.patient} />
              </td>
              <td>{scheduleName(r.schedule)}</td>
              <td>{r.status.toLowerCase()}</td>
              <td>
                {r.fillsUsed} of {r.fills}
              </td>
              <td>{r.remainingQuantity}</td>
              <td>
                <Time t={r.validUntil} />
              </td>
            </tr>
          ))}
        </Table>
      )}
    </Section>
  );
}

function History({ dispenses }: { dispenses: Dispense[] }) {
  return (
    <Section title="Dispensed here" id="history">
      {dispenses.length === 0 ? (
        <p>Nothing yet.</p>
      ) : (
        <Table headers={['When', 'Prescription', 'Fill', 'Units', 'Total dispensed']}>
          {[...dispenses].reverse().map((d) => (
            <tr key={`${d.blockNumber}-${d.rxId}-${d.totalDispensed}`} data-dispense={d.rxId}>
              <td>
                <Time t={d.timestamp} />
              </td>
              <td>
                <code title={d.rxId}>{d.rxId.slice(0, 10)}…</code>
              </td>
              <td>{d.fillNumber}</td>
              <td>{d.quantity}</td>
              <td>{d.totalDispensed}</td>
            </tr>
          ))}
        </Table>
      )}
    </Section>
  );
}
