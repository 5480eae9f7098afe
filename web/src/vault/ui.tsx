// The vault's shared pieces of the patient's and the doctor's pages: the sign-in bar, the documents table,
// and the viewer that opens or downloads a document (text and JSON shown as text, images as images,
// everything else downloaded; nothing of it leaves the browser).
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { AppConfig } from '../config';
import { Addr, ErrorText, Table, Time } from '../ui';
import { account } from '../wallet';
import { download, VaultRefusal, type VaultDocument } from './client';
import { sizeText } from './sentences';
import { session, sessionNotice, signedIn, signIn, signingIn, signOut, withSession } from './session';
import { fileName, typeTitle } from './types';

/** Who is signed in to the vault, and the buttons to sign in or out. Renders `children` only when signed in. */
export function VaultSignIn({ config, children }: { config: AppConfig; children: ComponentChildren }) {
  const [error, setError] = useState<string | null>(null);
  const s = signedIn.value;
  const other = session.value && !s ? session.value.address : null;
  return (
    <>
      <div class="vault-session" data-testid="vault-session" data-signed-in={s ? 'yes' : 'no'}>
        {s ? (
          <p>
            Signed in to the vault as <Addr a={s.address} /> until <Time t={s.expiresAt} />.{' '}
            <button type="button" class="link" onClick={async () => setError(await signOut())}>
              Sign out of the vault
            </button>
          </p>
        ) : (
          <>
            {sessionNotice.value && (
              <p class="warn" role="alert" data-testid="vault-notice">
                {sessionNotice.value}
              </p>
            )}
            <p>
              {other ? (
                <>
                  The vault session belongs to <Addr a={other} />, not to the connected account <Addr a={account.value} />.{' '}
                </>
              ) : null}
              Documents are kept encrypted in the vault. To open them, sign in with your wallet: it asks you to sign a
              message (no transaction, no fee).
            </p>
            <button
              type="button"
              disabled={signingIn.value}
              onClick={async () => {
                setError(null);
                setError(await signIn(config));
              }}
            >
              {signingIn.value ? 'Signing in…' : 'Sign in to the vault'}
            </button>
          </>
        )}
      </div>
      <ErrorText error={error} />
      {s ? children : null}
    </>
  );
}

/** The documents as a table; `extra` adds columns (their headers and cells), `onOpen` opens one. */
export function DocumentTable({
  docs,
  extra,
  onOpen,
}: {
  docs: VaultDocument[];
  extra?: { head: string[]; cells: (d: VaultDocument) => ComponentChildren };
  onOpen: (d: VaultDocument) => void;
}) {
  const headers = ['Document', 'Episode', 'Added', 'By', 'Size', ...(extra?.head ?? []), <span class="sr">Open</span>];
  return (
    <Table headers={headers}>
          {docs.map((d) => (
            <tr key={d.id} data-document={d.id} data-type={d.type}>
              <td>
                {typeTitle(d.type)}
                <div class="small">
                  {d.type} · {d.contentType}
                </div>
              </td>
              <td>{d.episode}</td>
              <td>
                <Time t={d.date} />
              </td>
              <td>
                <Addr a={d.uploader} />
              </td>
              <td>{sizeText(d.size)}</td>
              {extra?.cells(d)}
              <td class="actions">
                <button type="button" aria-label={`Open ${typeTitle(d.type)} ${d.id.slice(0, 8)}`} onClick={() => onOpen(d)}>
                  Open
                </button>
              </td>
            </tr>
          ))}
    </Table>
  );
}

interface Opened {
  doc: VaultDocument;
  phase: 'loading' | 'shown' | 'refused';
  blob?: Blob;
  text?: string;
  image?: string;
  error?: string;
}

/** The document being opened, and the function that opens one. */
export function useViewer(): [Opened | null, (d: VaultDocument) => void, () => void] {
  const [opened, setOpened] = useState<Opened | null>(null);
  const open = (doc: VaultDocument) => {
    setOpened({ doc, phase: 'loading' });
    withSession(() => download(doc.id)).then(
      async (blob) => {
        const shown: Opened = { doc, phase: 'shown', blob };
        if (/^text\/|json$/.test(doc.contentType)) {
          const text = await blob.text();
          try {
            shown.text = /json$/.test(doc.contentType) ? JSON.stringify(JSON.parse(text), null, 2) : text;
          } catch {
            shown.text = text;
          }
        } else if (/^image\/(png|jpeg)$/.test(doc.contentType)) {
          // A data: URL (the page's Content-Security-Policy admits no blob: images).
          shown.image = await new Promise<string>((ok, fail) => {
            const r = new FileReader();
            r.onload = () => ok(String(r.result));
            r.onerror = () => fail(r.error);
            r.readAsDataURL(blob);
          });
        }
        setOpened(shown);
      },
      (e: unknown) => setOpened({ doc, phase: 'refused', error: e instanceof VaultRefusal ? e.message : String(e) }),
    );
  };
  return [opened, open, () => setOpened(null)];
}

function save(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The opened document: its contents, a download button, or why the vault refused it. */
export function Viewer({ opened, close }: { opened: Opened | null; close: () => void }) {
  useEffect(() => {
    if (opened) document.getElementById('viewer-title')?.focus();
  }, [opened?.doc.id]);
  if (!opened) return null;
  const { doc } = opened;
  const title = `${typeTitle(doc.type)} (${doc.id.slice(0, 8)})`;
  return (
    <div class="viewer" role="region" aria-labelledby="viewer-title" data-testid="viewer" data-phase={opened.phase}>
      <h3 id="viewer-title" tabIndex={-1}>
        {title}
      </h3>
      {opened.phase === 'loading' && <p aria-busy="true">Opening…</p>}
      {opened.phase === 'refused' && (
        <p class="error" role="alert" data-testid="viewer-refused">
          {opened.error}
        </p>
      )}
      {opened.phase === 'shown' && (
        <>
          {opened.text != null ? (
            <pre class="doc" tabIndex={0} aria-label={`Contents of ${title}`}>
              {opened.text}
            </pre>
          ) : opened.image ? (
            <img class="doc" src={opened.image} alt={title} />
          ) : (
            <p>This kind of document ({doc.contentType}) is not shown in the page: download it to open it.</p>
          )}
          <p class="small">Checked by the vault against its anchor on chain before it was sent.</p>
        </>
      )}
      <div class="row">
        {opened.blob && (
          <button type="button" onClick={() => save(opened.blob!, fileName(doc.type, doc.id, doc.contentType))}>
            Download
          </button>
        )}
        <button type="button" class="link" onClick={close}>
          Close
        </button>
      </div>
    </div>
  );
}
