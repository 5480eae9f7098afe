// The patient: who has access now, granting (by transaction or by a signature for a relayer), revoking,
// burning signatures not yet relayed, emergency access and her block list, her records and prescriptions; live.
import { useState } from 'preact/hooks';
import { isAddress, type Address } from 'viem';
import type { AppConfig } from '../config';
import type { PageProps } from './common';
import { useLive } from '../data';
import { chainTime, explain, read, send, signTyped } from '../tx';
import { Addr, busy, dateIn, endOfDay, ErrorText, Live, Section, Time, TxStatus, useTx } from '../ui';
import { account } from '../wallet';
import { ConnectFirst } from './common';
import { PatientCodes } from '../rx/patientcodes';
import { PatientVault } from './documents';
import { EmergencyBlocks, reasonText } from './emergency';
import { HideButton } from './hide';

const SCOPES = [
  { bit: 1, name: 'READ', label: 'Read records' },
  { bit: 2, name: 'WRITE', label: 'Add records' },
  { bit: 4, name: 'PRESCRIBE', label: 'Prescribe' },
] as const;

interface Consent {
  grantee: Address;
  scopes: string[];
  expiresAt: string | null;
  grantedAt: string | null;
  accessSince: string | null;
  status: string;
  revokedAt: string | null;
  emergencyActive: boolean;
  emergencyUntil: string | null;
  emergencyReason: number | null;
  emergencyOpenedAt: string | null;
}
interface RecordRow {
  index: number;
  author: Address;
  contentHash: string;
  hidden: boolean;
  anchoredAt: string;
}
interface Episode {
  id: number;
  openedBy: Address;
  openedAt: string;
  closed: boolean;
  recordCount: number;
  records: RecordRow[];
}
interface Prescription {
  id: string;
  prescriber: Address;
  status: string;
  schedule: number;
  fills: number;
  fillsUsed: number;
  quantityPerFill: number;
  remainingQuantity: number;
  validUntil: string;
  issuedAt: string;
  lastDispensedAt: string | null;
}
interface Data {
  patient: {
    access: Consent[];
    consents: { nodes: Consent[] };
    blocked: { nodes: { grantee: Address }[] };
    episodes: { nodes: Episode[] };
    prescriptions: { nodes: Prescription[] };
  };
}

const CONSENT = `grantee scopes expiresAt grantedAt accessSince status revokedAt emergencyActive emergencyUntil emergencyReason emergencyOpenedAt`;
const QUERY = `query Patient($a: Address!) {
  patient(address: $a) {
    access { ${CONSENT} }
    consents(first: 50) { nodes { ${CONSENT} } }
    blocked: consents(filter: { status: BLOCKED }, first: 100) { nodes { grantee } }
    episodes(first: 20) { nodes { id openedBy openedAt closed recordCount records(includeHidden: true) { index author contentHash hidden anchoredAt } } }
    prescriptions(first: 50) { nodes { id prescriber status schedule fills fillsUsed quantityPerFill remainingQuantity validUntil issuedAt lastDispensedAt } }
  }
}`;

const STATUS_TEXT: Record<string, string> = {
  FILLABLE: 'Can be filled now',
  WAITING: 'Waiting for the next fill',
  COMPLETED: 'Completed',
  EXPIRED: 'Expired',
  CANCELLED: 'Cancelled',
};

export default function Patient({ config }: PageProps) {
  const me = account.value;
  // A dispense event names the pharmacy, not the patient: her prescriptions' events come by `prescriptionsOf`
  // (only hers: another patient's dispense does not refetch her page).
  const live = useLive<Data>(QUERY, me ? { a: me } : null, me ? [{ accounts: [me] }, { prescriptionsOf: [me] }] : null);
  if (!me) return <ConnectFirst role="patient" />;
  const p = live.data?.patient;
  return (
    <>
      <h1>Your records and who can see them</h1>
      <p>
        Patient <Addr a={me} />
      </p>
      <Live updated={live.updated} />
      <ErrorText error={live.error} />
      {!p ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <>
          <Access config={config} access={p.access} />
          <Grant config={config} me={me} />
          <Signatures config={config} me={me} />
          <EmergencyBlocks config={config} blocked={p.blocked.nodes.map((c) => c.grantee)} />
          <Past consents={p.consents.nodes.filter((c) => c.status === 'REVOKED' || c.status === 'EXPIRED')} />
          <Records config={config} episodes={p.episodes.nodes} />
          <Prescriptions rx={p.prescriptions.nodes} />
          <PatientCodes config={config} me={me} rx={p.prescriptions.nodes} />
          <PatientVault config={config} me={me} episodes={p.episodes.nodes} updated={live.updated} />
        </>
      )}
    </>
  );
}

function scopeText(scopes: string[]) {
  return scopes.map((s) => SCOPES.find((x) => x.name === s)?.label ?? s).join(', ') || '—';
}

function Access({ config, access }: { config: AppConfig; access: Consent[] }) {
  const [tx, setTx] = useTx();
  return (
    <Section title="Who has access now" id="access">
      {access.length === 0 ? (
        <p>Nobody has access to your records.</p>
      ) : (
        <div class="scroll" tabIndex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">Who</th>
                <th scope="col">May</th>
                <th scope="col">Since</th>
                <th scope="col">Until</th>
                <th scope="col">
                  <span class="sr">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {access.map((c) => (
                <tr key={c.grantee} data-grantee={c.grantee.toLowerCase()}>
                  <td>
                    <Addr a={c.grantee} />
                  </td>
                  <td>
                    {c.status === 'ACTIVE' && scopeText(c.scopes)}
                    {c.emergencyActive && (
                      <span class="badge emergency">
                        Emergency read access{c.emergencyReason != null ? ` (reason ${c.emergencyReason}: ${reasonText(c.emergencyReason)})` : ''}
                      </span>
                    )}
                  </td>
                  <td>
                    <Time t={c.accessSince} />
                  </td>
                  <td>
                    {c.status === 'ACTIVE' && <Time t={c.expiresAt} empty="no end" />}
                    {c.emergencyActive && (
                      <div>
                        emergency until <Time t={c.emergencyUntil} />
                      </div>
                    )}
                  </td>
                  <td class="actions">
                    {c.status === 'ACTIVE' && (
                      <button
                        type="button"
                        disabled={busy(tx)}
                        aria-label={`Revoke ${c.grantee}`}
                        onClick={() => send(config, 'ConsentRegistry', 'revoke', [c.grantee], setTx, `Revoke ${c.grantee}`)}
                      >
                        Revoke
                      </button>
                    )}
                    {c.emergencyActive && (
                      <button
                        type="button"
                        disabled={busy(tx)}
                        aria-label={`End emergency access of ${c.grantee}`}
                        onClick={() =>
                          send(config, 'ConsentRegistry', 'endEmergencyAccess', [account.value, c.grantee], setTx, `End emergency access of ${c.grantee}`)
                        }
                      >
                        End emergency access
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <TxStatus state={tx} config={config} />
    </Section>
  );
}

function Grant({ config, me }: { config: AppConfig; me: Address }) {
  const [grantee, setGrantee] = useState('');
  const [scopes, setScopes] = useState(1);
  const [until, setUntil] = useState(dateIn(365));
  const [mode, setMode] = useState<'tx' | 'sig'>('tx');
  const [days, setDays] = useState(7);
  const [tx, setTx] = useTx();
  const [signed, setSigned] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setSigned(null);
    setCopied(false);
    if (!isAddress(grantee)) return setError('Enter the grantee as an address: 0x followed by 40 hex digits.');
    if (scopes === 0) return setError('Choose at least one thing the grantee may do.');
    const expiresAt = endOfDay(until);
    if (!expiresAt) return setError('Choose until when the access lasts.');
    if (mode === 'tx') {
      if (await send(config, 'ConsentRegistry', 'grant', [grantee, scopes, expiresAt], setTx, `Grant ${grantee}`)) setGrantee('');
      return;
    }
    try {
      setTx({ phase: 'wallet', label: 'Sign the grant' });
      const nonce = await read<bigint>(config, 'ConsentRegistry', 'nonces', [me]);
      // signedAt is the chain's time: a direct grant or revoke made later supersedes this signature.
      const signedAt = await chainTime();
      const deadline = BigInt(signedAt + days * 86_400);
      const message = { patient: me, grantee, scopes, expiresAt, signedAt, nonce, deadline };
      const signature = await signTyped(
        config,
        'ConsentRegistry',
        'medledger ConsentRegistry',
        {
          Grant: [
            { name: 'patient', type: 'address' },
            { name: 'grantee', type: 'address' },
            { name: 'scopes', type: 'uint8' },
            { name: 'expiresAt', type: 'uint40' },
            { name: 'signedAt', type: 'uint40' },
            { name: 'nonce', type: 'uint256' },
            { name: 'deadline', type: 'uint256' },
          ],
        },
        'Grant',
        message,
      );
      setTx({ phase: 'idle' });
      setSigned(
        JSON.stringify(
          {
            chainId: config.chainId,
            contract: config.contracts?.ConsentRegistry,
            function: 'grantWithSig(address,address,uint8,uint40,uint40,uint256,bytes)',
            patient: me,
            grantee,
            scopes,
            expiresAt,
            signedAt,
            deadline: deadline.toString(),
            nonce: nonce.toString(),
            signature,
          },
          null,
          2,
        ),
      );
    } catch (err) {
      setTx({ phase: 'rejected', label: 'Sign the grant', message: explain(err) });
    }
  };

  return (
    <Section title="Grant access" id="grant">
      <form onSubmit={submit} class="form">
        <label>
          Grantee (doctor, clinic, relative) address
          <input
            name="grantee"
            value={grantee}
            onInput={(e) => setGrantee(e.currentTarget.value.trim())}
            placeholder="0x…"
            autocomplete="off"
            spellcheck={false}
            required
          />
        </label>
        <fieldset>
          <legend>May</legend>
          {SCOPES.map((s) => (
            <label class="inline" key={s.bit}>
              <input
                type="checkbox"
                name={`scope-${s.name}`}
                checked={(scopes & s.bit) !== 0}
                onChange={(e) => setScopes(e.currentTarget.checked ? scopes | s.bit : scopes & ~s.bit)}
              />
              {s.label}
            </label>
          ))}
        </fieldset>
        <label>
          Until (end of the day, UTC)
          <input type="date" name="until" value={until} min={dateIn(0)} onInput={(e) => setUntil(e.currentTarget.value)} required />
        </label>
        <fieldset>
          <legend>How</legend>
          <label class="inline">
            <input type="radio" name="mode" checked={mode === 'tx'} onChange={() => setMode('tx')} />
            Send the transaction myself
          </label>
          <label class="inline">
            <input type="radio" name="mode" checked={mode === 'sig'} onChange={() => setMode('sig')} />
            Sign only, for a relayer to send (no fee for me)
          </label>
        </fieldset>
        {mode === 'sig' && (
          <label>
            The signature is valid for (days)
            <input type="number" name="days" min={1} max={30} value={days} onInput={(e) => setDays(Number(e.currentTarget.value) || 1)} />
          </label>
        )}
        <button type="submit" disabled={busy(tx)}>
          {mode === 'tx' ? 'Grant access' : 'Sign the grant'}
        </button>
      </form>
      <ErrorText error={error} />
      <TxStatus state={tx} config={config} />
      {signed && (
        <div class="signed">
          <label>
            Signed grant: hand it to the relayer
            <textarea readOnly rows={12} value={signed} name="signed" />
          </label>
          <button
            type="button"
            onClick={() => navigator.clipboard.writeText(signed).then(() => setCopied(true), () => setCopied(false))}
          >
            Copy
          </button>
          <span role="status">{copied ? ' Copied.' : ''}</span>
        </div>
      )}
    </Section>
  );
}

function Signatures({ config, me }: { config: AppConfig; me: Address }) {
  const [tx, setTx] = useTx();
  const [nonce, setNonce] = useState<bigint | null>(null);
  const [error, setError] = useState<string | null>(null);
  const burn = async () => {
    setError(null);
    try {
      const current = await read<bigint>(config, 'ConsentRegistry', 'nonces', [me]);
      setNonce(current);
      await send(config, 'ConsentRegistry', 'invalidateNonces', [current + 1n], setTx, 'Invalidate unrelayed signatures');
    } catch (e) {
      setError(explain(e));
    }
  };
  return (
    <Section title="Signatures not yet relayed" id="signatures">
      <p>
        A grant you signed for a relayer takes effect when the relayer sends it. If you changed your mind, or the signature
        was lost, invalidate every signature of yours that was not relayed yet.
      </p>
      <button type="button" onClick={burn} disabled={busy(tx)}>
        Invalidate unrelayed signatures
      </button>
      {nonce != null && tx.phase === 'confirmed' && <p class="small">Signatures with nonce {String(nonce)} no longer work.</p>}
      <ErrorText error={error} />
      <TxStatus state={tx} config={config} />
    </Section>
  );
}

function Past({ consents }: { consents: Consent[] }) {
  if (!consents.length) return null;
  return (
    <Section title="Past access" id="past">
      <ul class="plain">
        {consents.map((c) => (
          <li key={c.grantee} data-grantee={c.grantee.toLowerCase()}>
            <Addr a={c.grantee} />:{' '}
            {c.status === 'REVOKED' ? (
              <>
                revoked <Time t={c.revokedAt} />
              </>
            ) : (
              <>
                expired <Time t={c.expiresAt} />
              </>
            )}
          </li>
        ))}
      </ul>
    </Section>
  );
}

function Records({ config, episodes }: { config: AppConfig; episodes: Episode[] }) {
  const [tx, setTx] = useTx();
  return (
    <Section title="Your records" id="records">
      {episodes.length === 0 && <p>No episode of care yet.</p>}
      {episodes.map((ep) => (
        <div key={ep.id} class="episode">
          <h3>
            Episode {ep.id}
            {ep.closed ? ' (closed)' : ''}
          </h3>
          <p class="small">
            Opened <Time t={ep.openedAt} /> by <Addr a={ep.openedBy} />; {ep.recordCount} records.
          </p>
          {ep.records.length > 0 && (
            <div class="scroll" tabIndex={0}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">#</th>
                    <th scope="col">Added</th>
                    <th scope="col">By</th>
                    <th scope="col">Fingerprint</th>
                    <th scope="col">Visible to grantees</th>
                  </tr>
                </thead>
                <tbody>
                  {ep.records.map((r) => (
                    <tr key={r.index} data-record={`${ep.id}-${r.index}`}>
                      <td>{r.index}</td>
                      <td>
                        <Time t={r.anchoredAt} />
                      </td>
                      <td>
                        <Addr a={r.author} />
                      </td>
                      <td>
                        <code title={r.contentHash}>{r.contentHash.slice(0, 10)}…</code>
                      </td>
                      <td>
                        {r.hidden ? 'Hidden ' : 'Visible '}
                        <HideButton config={config} episode={ep.id} index={r.index} hidden={r.hidden} tx={tx} setTx={setTx} what={`record ${r.index} of episode ${ep.id}`} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      ))}
      <TxStatus state={tx} config={config} />
    </Section>
  );
}

/** Units left in the fill under way (a partial fill), 0 when none is open. */
const openFill = (r: Prescription) => r.remainingQuantity - (r.fills - r.fillsUsed) * r.quantityPerFill;

function Prescriptions({ rx }: { rx: Prescription[] }) {
  return (
    <Section title="Your prescriptions" id="prescriptions">
      {rx.length === 0 ? (
        <p>No prescription yet.</p>
      ) : (
        <div class="scroll" tabIndex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">Issued</th>
                <th scope="col">By</th>
                <th scope="col">Status</th>
                <th scope="col">Fills left</th>
                <th scope="col">Units left</th>
                <th scope="col">Valid until</th>
              </tr>
            </thead>
            <tbody>
              {rx.map((r) => (
                <tr key={r.id} data-rx={r.id}>
                  <td>
                    <Time t={r.issuedAt} />
                    {r.schedule ? <span class="badge">C-{['', '', 'II', 'III', 'IV', 'V'][r.schedule]}</span> : null}
                  </td>
                  <td>
                    <Addr a={r.prescriber} />
                  </td>
                  <td>
                    <span class={`status status-${r.status.toLowerCase()}`}>{STATUS_TEXT[r.status] ?? r.status}</span>
                  </td>
                  <td>
                    {r.fills - r.fillsUsed} of {r.fills}
                    {openFill(r) > 0 && <span class="small"> (fill {r.fillsUsed} open: {openFill(r)} units)</span>}
                  </td>
                  <td>{r.remainingQuantity}</td>
                  <td>
                    <Time t={r.validUntil} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
