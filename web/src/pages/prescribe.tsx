// The prescriber writes a prescription: a form, a review of exactly the terms the wallet will show, an
// EIP-712 signature (eth_signTypedData_v4), then an issue by her own transaction or a signature handed to a
// relayer. The document and its salt stay in the browser: the patient gets her copy (a file) and its code (QR).
import { useState } from 'preact/hooks';
import type { Address, Hex } from 'viem';
import type { AppConfig } from '../config';
import type { PageProps } from './common';
import { useLive } from '../data';
import { chainTime, explain, read, send, signTyped } from '../tx';
import { Addr, busy, ErrorText, Section, TxStatus, useTx } from '../ui';
import { account } from '../wallet';
import { ConnectFirst } from './common';
import { CredentialLine, type Credential } from './credential';
import { navigate } from '../router';
import { randomSalt } from '../commitment';
import { copyJson, makeCopy, toCode, type PatientCopy } from '../rx/copy';
import { buildDocument, emptyForm, type FormValues, type Refusal } from '../rx/form';
import { DOMAIN_NAME, TYPES, termsOf, type Ticket } from '../rx/prescription';
import { download } from '../rx/files';
import { PrintableRx } from '../rx/print';
import { scheduleOf, tableVersion } from '../rx/schedule';
import { summary, Terms } from '../rx/terms';
import { scheduleName } from '../revert';

interface Data {
  prescriber: { credential: Credential | null; consents: { nodes: { patient: Address; scopes: string[] }[] } };
}
const QUERY = `query Prescribe($a: Address!) {
  prescriber(address: $a) {
    credential { account credentialId kind status statusReason expiresAt schedules activeNow jurisdiction }
    consents(filter: { status: ACTIVE }, first: 100) { nodes { patient scopes } }
  }
}`;

export const ISSUE_WITH_SIG =
  'issueWithSig((address,address,bytes32,uint8,uint32,uint16,uint32,uint32,uint32,uint32,uint8,bool,address,uint256,uint32),bytes)';

interface Draft {
  ticket: Ticket;
  copy: PatientCopy;
  code: string;
}

export default function Prescribe({ config }: PageProps) {
  const me = account.value;
  const live = useLive<Data>(QUERY, me ? { a: me } : null, me ? { accounts: [me] } : null);
  const [values, setValues] = useState<FormValues>(emptyForm);
  const [draft, setDraft] = useState<Draft | null>(null);
  if (!me) return <ConnectFirst role="prescriber" />;
  const d = live.data?.prescriber;
  const patients = d?.consents.nodes.filter((c) => c.scopes.includes('PRESCRIBE')).map((c) => c.patient) ?? [];
  return (
    <>
      <h1>Write a prescription</h1>
      <p>
        Prescriber <Addr a={me} /> ·{' '}
        <a
          href="/doctor"
          onClick={(e) => {
            e.preventDefault();
            navigate('/doctor');
          }}
        >
          Back to your patients and prescriptions
        </a>
      </p>
      <ErrorText error={live.error} />
      {!d ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <>
          {d.credential ? <CredentialLine c={d.credential} /> : <p class="warn">This account holds no prescriber license: the contract will refuse to issue.</p>}
          {draft ? (
            <Review config={config} me={me} draft={draft} onEdit={() => setDraft(null)} />
          ) : (
            <Form config={config} me={me} values={values} setValues={setValues} patients={patients} onReview={setDraft} />
          )}
          <Relay config={config} />
          <Withdraw config={config} me={me} />
        </>
      )}
    </>
  );
}

function Field({ label, name, values, set, refusals, hint, ...rest }: {
  label: string;
  name: keyof FormValues;
  values: FormValues;
  set: (v: FormValues) => void;
  refusals: Refusal[];
  hint?: string;
  [k: string]: unknown;
}) {
  const bad = refusals.find((r) => r.field === name);
  const id = `rx-${name}`;
  return (
    <>
      <label>
        {label}
        <input
          id={id}
          name={name}
          value={String(values[name])}
          onInput={(e) => set({ ...values, [name]: e.currentTarget.value })}
          aria-invalid={bad ? 'true' : undefined}
          aria-describedby={hint ? `${id}-hint` : undefined}
          autocomplete="off"
          {...rest}
        />
      </label>
      {hint && (
        <span class="small" id={`${id}-hint`}>
          {hint}
        </span>
      )}
    </>
  );
}

function Form({ config, me, values, setValues, patients, onReview }: {
  config: AppConfig;
  me: Address;
  values: FormValues;
  setValues: (v: FormValues) => void;
  patients: Address[];
  onReview: (d: Draft) => void;
}) {
  const [refusals, setRefusals] = useState<Refusal[]>([]);
  const [checking, setChecking] = useState(false);
  const listed = scheduleOf(values.rxnormCode.trim());
  const p = { values, set: setValues, refusals };

  const review = async (e: Event) => {
    e.preventDefault();
    setRefusals([]);
    setChecking(true);
    try {
      const prescriptions = config.contracts?.Prescriptions;
      if (!prescriptions) throw new Error('The server names no Prescriptions contract.');
      // Times and nonce from the chain: dateWritten must not be after the block of issue.
      const now = await chainTime();
      const floor = await read<bigint>(config, 'Prescriptions', 'nonceFloor', [me]);
      const nonce = floor > BigInt(now) ? floor : BigInt(now);
      const built = buildDocument(values, me, now);
      if ('refusals' in built) return setRefusals(built.refusals);
      const { copy, ticket } = makeCopy(built.doc, config.chainId, prescriptions, randomSalt(), nonce);
      // The contract's own checks (license, schedule authority, consent, fills, validity, intervals), and its id.
      let onChainId: Hex;
      try {
        onChainId = await read<Hex>(config, 'Prescriptions', 'issue', [termsOf(ticket.prescription)], me);
      } catch (err) {
        return setRefusals([{ field: 'patient', message: `The contract would refuse this prescription: ${explain(err)}.` }]);
      }
      if (onChainId.toLowerCase() !== copy.rxId.toLowerCase()) {
        return setRefusals([{ field: 'patient', message: `The contract computes the id ${onChainId}, this page ${copy.rxId}: do not sign; report this.` }]);
      }
      onReview({ ticket, copy, code: toCode(ticket) });
    } catch (err) {
      setRefusals([{ field: 'patient', message: explain(err) }]);
    } finally {
      setChecking(false);
    }
  };

  return (
    <Section title="The prescription" id="form">
      <form onSubmit={review} class="form" noValidate>
        <fieldset>
          <legend>Patient</legend>
          <Field label="Patient account" name="patient" {...p} list="rx-patients" placeholder="0x…" spellcheck={false} hint="Patients who granted you PRESCRIBE are suggested." />
          <datalist id="rx-patients">
            {patients.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
          <Field label="Patient name" name="patientName" {...p} />
          <Field label="Patient identifier (record number, insurance id)" name="patientIdentifier" {...p} />
        </fieldset>
        <fieldset>
          <legend>Drug</legend>
          <label>
            RxNorm code (RxCUI)
            <input
              name="rxnormCode"
              value={values.rxnormCode}
              inputMode="numeric"
              autocomplete="off"
              aria-describedby="rx-table-hint"
              aria-invalid={refusals.some((r) => r.field === 'rxnormCode') ? 'true' : undefined}
              onInput={(e) => {
                const code = e.currentTarget.value.trim();
                // The schedule follows the table; the prescriber may still change it (and is then refused).
                setValues({ ...values, rxnormCode: e.currentTarget.value, schedule: scheduleOf(code)?.schedule ?? 0 });
              }}
            />
          </label>
          <span class="small" id="rx-table-hint" data-testid="table-hint">
            {listed
              ? `Controlled-substance table ${tableVersion}: ${listed.name}, ${scheduleName(listed.schedule)}.`
              : `Not in the controlled-substance table ${tableVersion}: not controlled.`}
          </span>
          <Field label="Drug (as printed for the patient)" name="drugName" {...p} />
          <Field label="Strength" name="strength" {...p} placeholder="5 mg" />
          <label>
            Controlled-substance schedule
            <select
              name="schedule"
              value={String(values.schedule)}
              aria-invalid={refusals.some((r) => r.field === 'schedule') ? 'true' : undefined}
              onChange={(e) => setValues({ ...values, schedule: Number(e.currentTarget.value) })}
            >
              {[0, 2, 3, 4, 5].map((s) => (
                <option key={s} value={String(s)}>
                  {scheduleName(s)}
                </option>
              ))}
            </select>
          </label>
          <label class="inline">
            <input type="checkbox" name="substitution" checked={values.substitution} onChange={(e) => setValues({ ...values, substitution: e.currentTarget.checked })} />
            A generic may be substituted
          </label>
        </fieldset>
        <fieldset>
          <legend>Dosage and quantity</legend>
          <label>
            Dosage instructions (one per line)
            <textarea name="dosage" rows={3} value={values.dosage} onInput={(e) => setValues({ ...values, dosage: e.currentTarget.value })} />
          </label>
          <Field label="Quantity per fill" name="quantity" {...p} inputMode="numeric" />
          <Field label="Unit" name="unit" {...p} placeholder="tablet" />
          <Field label="Fills (1 = no refills)" name="fills" {...p} inputMode="numeric" />
          <Field label="Days' supply (how long one fill lasts; required for a controlled substance)" name="daysSupply" {...p} inputMode="numeric" />
        </fieldset>
        <fieldset>
          <legend>When and where</legend>
          <label>
            First fill on (UTC; empty = from now)
            <input type="date" name="firstFill" value={values.firstFill} onInput={(e) => setValues({ ...values, firstFill: e.currentTarget.value })} />
          </label>
          <Field label="Valid for (days from the first fill)" name="validDays" {...p} inputMode="numeric" />
          <Field label="Minimum days between fills" name="intervalDays" {...p} inputMode="numeric" />
          <Field label="Designated pharmacy (account; empty = any pharmacy)" name="pharmacy" {...p} placeholder="0x…" spellcheck={false} />
          <label class="inline">
            <input type="checkbox" name="longTermCare" checked={values.longTermCare} onChange={(e) => setValues({ ...values, longTermCare: e.currentTarget.checked })} />
            Long-term care or terminally ill (schedule II: partial fills over 60 days)
          </label>
          <Field label="The signed prescription must be issued within (days)" name="issueDays" {...p} inputMode="numeric" />
        </fieldset>
        <button type="submit" disabled={checking}>
          {checking ? 'Checking…' : 'Review'}
        </button>
      </form>
      {refusals.length > 0 && (
        <div role="alert" class="error" data-testid="refusals">
          <p>Not ready to sign:</p>
          <ul>
            {refusals.map((r, i) => (
              <li key={i} data-field={r.field}>
                {r.message}
              </li>
            ))}
          </ul>
        </div>
      )}
    </Section>
  );
}

function Review({ config, me, draft, onEdit }: { config: AppConfig; me: Address; draft: Draft; onEdit: () => void }) {
  const [mode, setMode] = useState<'issue' | 'relay'>('issue');
  const [tx, setTx] = useTx();
  const [copy, setCopy] = useState<PatientCopy>(draft.copy);
  const [signature, setSignature] = useState<Hex | null>(null);
  const [done, setDone] = useState(false);
  const { ticket, code } = draft;
  const terms = termsOf(ticket.prescription);

  const sign = async () => {
    try {
      setTx({ phase: 'wallet', label: 'Sign the prescription' });
      // Signed once: a failed issue is retried with the same signature.
      const sig = signature ?? await signTyped(config, 'Prescriptions', DOMAIN_NAME, TYPES as unknown as Record<string, { name: string; type: string }[]>, 'Prescription', ticket.prescription as unknown as Record<string, unknown>);
      setSignature(sig);
      setTx({ phase: 'idle' });
      if (mode === 'relay') return setDone(true);
      let hash: Hex | undefined;
      let block: bigint | undefined;
      const ok = await send(config, 'Prescriptions', 'issue', [terms], (s) => {
        hash = s.hash ?? hash;
        block = s.block ?? block;
        setTx(s);
      }, 'Issue the prescription');
      if (ok && hash && block != null) {
        setCopy({ ...draft.copy, issued: { txHash: hash, blockNumber: Number(block) } });
        setDone(true);
      }
    } catch (err) {
      setTx({ phase: 'rejected', label: 'Sign the prescription', message: explain(err) });
    }
  };

  // Once issued, there is nothing left to relay.
  const bundle = signature && !copy.issued
    ? JSON.stringify(
        {
          chainId: ticket.chainId,
          contract: ticket.prescriptions,
          function: ISSUE_WITH_SIG,
          rxId: copy.rxId,
          terms: { ...terms, nonce: terms.nonce.toString() },
          signature,
        },
        null,
        2,
      )
    : '';
  const fileName = `prescription-${copy.rxId.slice(2, 10)}.patient.json`;

  return (
    <>
      <Section title={done ? 'Prescription signed' : 'Review before signing'} id="review" focus>
        <p>
          <strong>{summary(ticket.prescription)}</strong> for <Addr a={ticket.prescription.patient} />.
        </p>
        <p>
          Prescription id (what your wallet signs) <code data-testid="rx-id">{copy.rxId}</code>; content hash (all the chain sees of the content){' '}
          <code data-testid="content-hash">{copy.contentHash}</code>. The contract computes the same id.
        </p>
        <Terms ticket={ticket} caption="The terms your wallet will show (eth_signTypedData_v4, typed data Prescription)" />
        {!done && (
          <>
            <fieldset>
              <legend>Then</legend>
              <label class="inline">
                <input type="radio" name="rx-mode" checked={mode === 'issue'} onChange={() => setMode('issue')} />
                Issue it myself (a transaction from this wallet)
              </label>
              <label class="inline">
                <input type="radio" name="rx-mode" checked={mode === 'relay'} onChange={() => setMode('relay')} />
                Sign only, for a relayer to issue (no fee for me)
              </label>
            </fieldset>
            <div class="actions">
              <button type="button" onClick={sign} disabled={busy(tx)}>
                {mode === 'issue' ? 'Sign and issue' : 'Sign for a relayer'}
              </button>{' '}
              <button type="button" class="secondary" onClick={onEdit} disabled={busy(tx)}>
                Back to the form
              </button>
            </div>
          </>
        )}
        <TxStatus state={tx} config={config} />
        {signature && !done && !busy(tx) && (
          <p class="small">Signed; the issue did not go through: try again (the same signature is used), or sign for a relayer.</p>
        )}
      </Section>
      {done && (
        <Section title="For the patient" id="patient-copy">
          <p>
            {copy.issued ? `Issued in block ${copy.issued.blockNumber}.` : 'Signed, not yet issued: hand the signed prescription below to the relayer.'} The
            prescription's content and its salt exist only here: give the patient her copy or show her the code; it is not stored anywhere else.
          </p>
          <button type="button" onClick={() => download(fileName, copyJson(copy))}>
            Download the patient copy
          </button>
          <PrintableRx ticket={ticket} code={code} label="QR code of the prescription for the pharmacy" print="Print the patient's prescription" />
          {bundle && (
            <div class="signed">
              <label>
                Signed prescription: hand it to the relayer
                <textarea readOnly rows={10} value={bundle} name="bundle" />
              </label>
            </div>
          )}
          <p class="small">
            Signed by <Addr a={me} /> with nonce {String(ticket.prescription.nonce)}.
          </p>
          <button type="button" class="secondary" onClick={onEdit}>
            Write another prescription
          </button>
        </Section>
      )}
    </>
  );
}

function Relay({ config }: { config: AppConfig }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [tx, setTx] = useTx();
  const relay = async (e: Event) => {
    e.preventDefault();
    setError(null);
    let b: { chainId: number; contract: string; terms: Record<string, unknown> & { nonce: string }; signature: Hex };
    try {
      b = JSON.parse(text);
      if (!b?.terms || typeof b.signature !== 'string') throw new Error('it has no terms and signature');
    } catch (err) {
      return setError(`Not a signed prescription: ${(err as Error).message}.`);
    }
    if (b.chainId !== config.chainId || b.contract?.toLowerCase() !== config.contracts?.Prescriptions.toLowerCase()) {
      return setError(`This prescription is for chain ${b.chainId} at ${b.contract}, not this deployment (chain ${config.chainId}, ${config.contracts?.Prescriptions}).`);
    }
    const terms = { ...b.terms, nonce: BigInt(b.terms.nonce) };
    if (await send(config, 'Prescriptions', 'issueWithSig', [terms, b.signature], setTx, 'Relay the prescription')) setText('');
  };
  return (
    <Section title="Relay a signed prescription" id="relay">
      <p>Any account may issue a prescription a prescriber signed (it pays the fee; the prescriber stays the prescriber).</p>
      <form onSubmit={relay} class="form">
        <label>
          Signed prescription (JSON from the prescriber)
          <textarea name="relay" rows={5} value={text} onInput={(e) => setText(e.currentTarget.value)} spellcheck={false} />
        </label>
        <button type="submit" disabled={busy(tx) || !text.trim()}>
          Relay it
        </button>
      </form>
      <ErrorText error={error} />
      <TxStatus state={tx} config={config} />
    </Section>
  );
}

function Withdraw({ config, me }: { config: AppConfig; me: Address }) {
  const [tx, setTx] = useTx();
  const [error, setError] = useState<string | null>(null);
  const withdraw = async () => {
    setError(null);
    try {
      // Nonces are the chain's time at signing: a floor just above now withdraws every earlier signature.
      const floor = await read<bigint>(config, 'Prescriptions', 'nonceFloor', [me]);
      const now = BigInt(await chainTime()) + 1n;
      await send(config, 'Prescriptions', 'invalidateNonces', [now > floor ? now : floor + 1n], setTx, 'Withdraw unrelayed signatures');
    } catch (e) {
      setError(explain(e));
    }
  };
  return (
    <Section title="Signed prescriptions not yet relayed" id="withdraw">
      <p>A prescription you signed for a relayer takes effect when it is relayed. If it was lost or is wrong, withdraw every signature of yours not relayed yet.</p>
      <button type="button" onClick={withdraw} disabled={busy(tx)}>
        Withdraw unrelayed signatures
      </button>
      <ErrorText error={error} />
      <TxStatus state={tx} config={config} />
    </Section>
  );
}
