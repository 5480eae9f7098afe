// The patient's documents in the vault: her episodes' documents (type, size, anchored or pending, hidden),
// uploading one (the vault encrypts it; then her wallet anchors the contentHash and pointerHash the vault
// returned with RecordAnchors.anchorRecord, as `medledger records put` does), hiding and showing, opening
// and downloading, and the access log (who read what, when, the outcome and what allowed or refused it),
// refreshed live.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Address, Hex } from 'viem';
import type { AppConfig } from '../config';
import { send } from '../tx';
import { Addr, busy, ErrorText, Section, Table, Time, TxStatus, useTx } from '../ui';
import { accessLog, listDocuments, upload, VaultRefusal, type LogEntry, type VaultDocument } from '../vault/client';
import { ACTIONS, logReason, sizeText } from '../vault/sentences';
import { withSession } from '../vault/session';
import { ACCEPT, contentTypeOf, DOCUMENT_TYPES, typeTitle } from '../vault/types';
import { DocumentTable, useViewer, VaultSignIn, Viewer } from '../vault/ui';
import { HideButton } from './hide';

/** An episode as the patient page has it from GraphQL: its anchored records (hidden ones too). */
export interface EpisodeRecords {
  id: number;
  closed: boolean;
  records: { index: number; contentHash: string; hidden: boolean }[];
}

/** How often the access log refreshes itself while the page is visible. */
const LOG_REFRESH_MS = 10_000;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** `patient`'s documents, loaded again whenever `key` changes. */
function useDocuments(patient: Address, key: unknown): { docs: VaultDocument[] | null; error: string | null; reload: () => void } {
  const [docs, setDocs] = useState<VaultDocument[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const seq = useRef(0);
  const reload = () => {
    const mine = ++seq.current;
    withSession(() => listDocuments(patient)).then(
      (d) => {
        if (mine !== seq.current) return;
        setDocs(d);
        setError(null);
      },
      (e: unknown) => mine === seq.current && setError(message(e)),
    );
  };
  useEffect(reload, [patient, key]);
  return { docs, error, reload };
}

export function PatientVault({ config, me, episodes, updated }: { config: AppConfig; me: Address; episodes: EpisodeRecords[]; updated: string | null }) {
  return (
    <Section title="Your documents" id="documents">
      <VaultSignIn config={config}>
        <Documents config={config} me={me} episodes={episodes} updated={updated} />
      </VaultSignIn>
    </Section>
  );
}

function Documents({ config, me, episodes, updated }: { config: AppConfig; me: Address; episodes: EpisodeRecords[]; updated: string | null }) {
  const [tick, setTick] = useState(0);
  const { docs, error, reload } = useDocuments(me, `${updated}/${tick}`);
  const [opened, open, close] = useViewer();
  const [tx, setTx] = useTx();
  const record = (d: VaultDocument) =>
    episodes.find((e) => e.id === d.episode)?.records.find((r) => r.contentHash.toLowerCase() === d.contentHash?.toLowerCase());
  const anchor = (d: VaultDocument) =>
    send(config, 'RecordAnchors', 'anchorRecord', [BigInt(d.episode), d.contentHash, d.pointerHash], setTx, `Anchor ${typeTitle(d.type)}`).then(
      (ok) => ok && reload(),
    );
  return (
    <>
      <ErrorText error={error} />
      {!docs ? (
        !error && <p aria-busy="true">Loading your documents…</p>
      ) : docs.length === 0 ? (
        <p>No document in the vault yet.</p>
      ) : (
        <DocumentTable
          docs={docs}
          onOpen={open}
          extra={{
            head: ['On chain', 'Visible to grantees'],
            cells: (d) => {
              const r = record(d);
              return (
                <>
                  <td data-anchor={d.anchored ? 'anchored' : 'pending'}>
                    {d.anchored ? (
                      <>Anchored{r ? <span class="small"> (record {r.index})</span> : null}</>
                    ) : (
                      <>
                        Pending: only you{d.uploader.toLowerCase() === me.toLowerCase() ? '' : ' and its uploader'} see it.{' '}
                        <button type="button" disabled={busy(tx)} aria-label={`Anchor ${typeTitle(d.type)} ${d.id.slice(0, 8)}`} onClick={() => anchor(d)}>
                          Anchor
                        </button>
                      </>
                    )}
                  </td>
                  <td data-hidden={r ? String(r.hidden) : undefined}>
                    {r ? (
                      <>
                        {r.hidden ? 'Hidden ' : 'Visible '}
                        <HideButton config={config} episode={d.episode} index={r.index} hidden={r.hidden} tx={tx} setTx={setTx} what={`${typeTitle(d.type)} ${d.id.slice(0, 8)}`} />
                      </>
                    ) : (
                      '—'
                    )}
                  </td>
                </>
              );
            },
          }}
        />
      )}
      <TxStatus state={tx} config={config} />
      <Viewer opened={opened} close={close} />
      <Upload config={config} patient={me} episodes={episodes} done={() => setTick((t) => t + 1)} />
      <AccessLog me={me} docs={docs ?? []} updated={`${updated}/${tick}`} />
    </>
  );
}

/**
 * Adds a document to one of `patient`'s open episodes: the vault encrypts and stores it, then the connected
 * wallet (the patient's, or a doctor's with her "Add records" grant) anchors it. `done` runs after each step.
 */
export function Upload({ config, patient, episodes, done }: { config: AppConfig; patient: Address; episodes: Pick<EpisodeRecords, 'id' | 'closed'>[]; done: () => void }) {
  const open = episodes.filter((e) => !e.closed);
  const [episode, setEpisode] = useState<number | null>(open[0]?.id ?? null);
  const [type, setType] = useState(DOCUMENT_TYPES[0]!.code);
  const [file, setFile] = useState<File | null>(null);
  const [phase, setPhase] = useState<'idle' | 'uploading' | 'uploaded'>('idle');
  const [error, setError] = useState<string | null>(null);
  const [salt, setSalt] = useState<Hex | null>(null);
  const [tx, setTx] = useTx();
  const [episodeTx, setEpisodeTx] = useTx();
  const form = useRef<HTMLFormElement>(null);
  const chosen = episode != null && open.some((e) => e.id === episode) ? episode : (open[0]?.id ?? null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setSalt(null);
    setTx({ phase: 'idle' });
    if (chosen == null) return setError('Open an episode first: documents are filed into one of your episodes.');
    if (!file) return setError('Choose the file to upload.');
    setPhase('uploading');
    let up;
    try {
      up = await withSession(() => upload(patient, chosen, type, contentTypeOf(file), file, config.vault?.maxUpload ?? null));
    } catch (err) {
      setPhase('idle');
      return setError(err instanceof VaultRefusal ? err.message : message(err));
    }
    setPhase('uploaded');
    setSalt(up.salt);
    done();
    // The anchor: exactly what `medledger records put` sends (src/records.rs Anchors::anchor).
    const ok = await send(config, 'RecordAnchors', 'anchorRecord', [BigInt(chosen), up.contentHash, up.pointerHash], setTx, `Anchor ${typeTitle(type)}`);
    if (ok) {
      form.current?.reset();
      setFile(null);
    }
    done();
  };

  return (
    <div class="upload">
      <h3>Add a document</h3>
      <p class="small">
        The file goes to the vault only, which stores it encrypted; then your wallet anchors its fingerprint on chain. Until
        the anchor is indexed only its uploader and the patient see it.
      </p>
      {open.length === 0 ? (
        <p>No open episode of care.</p>
      ) : (
        <form class="form" ref={form} onSubmit={submit}>
          <label>
            Episode
            <select name="episode" value={String(chosen)} onChange={(e) => setEpisode(Number(e.currentTarget.value))}>
              {open.map((ep) => (
                <option key={ep.id} value={ep.id}>
                  Episode {ep.id}
                </option>
              ))}
            </select>
          </label>
          <label>
            Kind of document
            <select name="type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
              {DOCUMENT_TYPES.map((t) => (
                <option key={t.code} value={t.code}>
                  {t.title} ({t.code})
                </option>
              ))}
            </select>
          </label>
          <label>
            File (PDF, JSON, text, Markdown, PNG, JPEG, DICOM{config.vault ? `; at most ${sizeText(config.vault.maxUpload)}` : ''})
            <input type="file" name="file" accept={ACCEPT} onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
          </label>
          <button type="submit" disabled={phase === 'uploading' || busy(tx)}>
            {phase === 'uploading' ? 'Uploading…' : 'Upload and anchor'}
          </button>
        </form>
      )}
      <p role="status" data-testid="upload-status">
        {phase === 'uploading' ? 'Uploading to the vault…' : phase === 'uploaded' ? 'Uploaded to the vault, encrypted.' : ''}
      </p>
      <ErrorText error={error} />
      <TxStatus state={tx} config={config} />
      {salt && (
        <details class="small">
          <summary>Proof of the anchor</summary>
          The salt <code class="hash">{salt}</code> shows that the fingerprint on chain is this document. The vault keeps it sealed
          with the document; keep it too if you want to prove it without the vault.
        </details>
      )}
      <button
        type="button"
        disabled={busy(episodeTx)}
        onClick={() => send(config, 'RecordAnchors', 'openEpisode', [patient], setEpisodeTx, 'Open a new episode')}
      >
        Open a new episode
      </button>
      <TxStatus state={episodeTx} config={config} />
    </div>
  );
}

function AccessLog({ me, docs, updated }: { me: Address; docs: VaultDocument[]; updated: string }) {
  const [entries, setEntries] = useState<LogEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [mine, setMine] = useState(false);
  const [auto, setAuto] = useState(true);
  const [at, setAt] = useState<string | null>(null);
  const seq = useRef(0);
  const load = () => {
    const n = ++seq.current;
    withSession(() => accessLog(me)).then(
      (e) => {
        if (n !== seq.current) return;
        setEntries(e);
        setError(null);
        setAt(new Date().toISOString());
      },
      (e: unknown) => n === seq.current && setError(message(e)),
    );
  };
  useEffect(load, [me, updated]);
  useEffect(() => {
    if (!auto) return;
    const t = setInterval(() => document.visibilityState === 'visible' && load(), LOG_REFRESH_MS);
    return () => clearInterval(t);
  }, [auto, me]);
  const title = (id: string | null) => {
    if (!id) return '';
    const d = docs.find((x) => x.id === id);
    return d ? `${typeTitle(d.type)} (${id.slice(0, 8)})` : `document ${id.slice(0, 8)}`;
  };
  const shown = (entries ?? []).filter((e) => mine || !(e.action === 'audit' && e.actor?.toLowerCase() === me.toLowerCase()));
  return (
    <div class="log" role="region" aria-labelledby="access-log">
      <h3 id="access-log">Who read what</h3>
      <div class="row">
        <label class="inline">
          <input type="checkbox" checked={auto} onChange={(e) => setAuto(e.currentTarget.checked)} />
          Refresh every {LOG_REFRESH_MS / 1000} s
        </label>
        <label class="inline">
          <input type="checkbox" checked={mine} onChange={(e) => setMine(e.currentTarget.checked)} />
          Include my own views of this log
        </label>
        <button type="button" onClick={load}>
          Refresh
        </button>
      </div>
      <p class="small" role="status">
        {at ? (
          <>
            Every read, upload and refusal is logged by the vault in a hash chain. Last refreshed <Time t={at} />.
          </>
        ) : (
          ''
        )}
      </p>
      <ErrorText error={error} />
      {!entries ? (
        !error && <p aria-busy="true">Loading the access log…</p>
      ) : shown.length === 0 ? (
        <p>Nobody has read your documents yet.</p>
      ) : (
        <Table headers={['When', 'Who', 'What', 'Outcome', 'Allowed or refused by']}>
              {shown.map((e) => (
                <tr key={e.seq} data-seq={e.seq} data-actor={e.actor?.toLowerCase()} data-action={e.action} data-outcome={e.outcome} data-document={e.document ?? undefined}>
                  <td>
                    <Time t={e.at} />
                  </td>
                  <td>{e.actor?.toLowerCase() === me.toLowerCase() ? 'You' : <Addr a={e.actor} />}</td>
                  <td>
                    {ACTIONS[e.action] ?? e.action} {title(e.document)}
                  </td>
                  <td class={`outcome-${e.outcome}`}>{e.outcome}</td>
                  <td>
                    {logReason(e.outcome, e.reason)}
                    {e.consentBlock != null ? <span class="small"> (consent of block {e.consentBlock})</span> : null}
                    {e.indexBlock != null ? <span class="small"> · chain as of block {e.indexBlock}</span> : null}
                  </td>
                </tr>
              ))}
        </Table>
      )}
    </div>
  );
}
