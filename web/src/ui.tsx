// Small shared components: addresses, times, a transaction's progress, the live indicator.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { txUrl, type AppConfig } from './config';
import { onSocketState, type SocketState } from './gql';
import type { TxState } from './tx';

export function Addr({ a, label }: { a: string | null | undefined; label?: string }) {
  if (!a) return <span>—</span>;
  return (
    <span class="addr" title={a} data-address={a.toLowerCase()}>
      {label ? `${label} ` : ''}
      {a.slice(0, 6)}…{a.slice(-4)}
    </span>
  );
}

export function Time({ t, empty = '—' }: { t: string | null | undefined; empty?: string }) {
  if (!t) return <span>{empty}</span>;
  const d = new Date(t);
  return <time dateTime={t}>{d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}</time>;
}

export function Section({ title, id, children, focus }: { title: string; id: string; children: ComponentChildren; focus?: boolean }) {
  // A section that opens on demand takes the focus, so keyboard and screen reader users land in it.
  useEffect(() => {
    if (focus) document.getElementById(id)?.focus();
  }, [focus, id]);
  return (
    <section aria-labelledby={id} class="card">
      <h2 id={id} tabIndex={focus ? -1 : undefined}>
        {title}
      </h2>
      {children}
    </section>
  );
}

export function TxStatus({ state, config }: { state: TxState; config: AppConfig }) {
  if (state.phase === 'idle') return <p class="tx" role="status" aria-live="polite" />;
  const link = state.hash ? txUrl(config, state.hash) : null;
  const hash = state.hash && (
    <>
      {' '}
      Transaction{' '}
      {link ? (
        <a href={link} target="_blank" rel="noreferrer noopener">
          <code>{state.hash}</code>
        </a>
      ) : (
        <code class="hash">{state.hash}</code>
      )}
      .
    </>
  );
  const what = state.label ? `${state.label}: ` : '';
  const text = {
    wallet: <>{what}confirm in your wallet…</>,
    pending: <>{what}pending, waiting for a block…{hash}</>,
    confirmed: <>{what}confirmed in block {String(state.block)}.{hash}</>,
    failed: <>{what}{state.message}{hash}</>,
    rejected: <>{what}{state.message}</>,
  }[state.phase];
  const role = state.phase === 'failed' || state.phase === 'rejected' ? 'alert' : 'status';
  return (
    <p class={`tx tx-${state.phase}`} role={role} aria-live="polite" data-phase={state.phase}>
      {text}
    </p>
  );
}

/** The hook of one transaction's progress. */
export function useTx(): [TxState, (s: TxState) => void] {
  return useState<TxState>({ phase: 'idle' });
}

export const busy = (s: TxState) => s.phase === 'wallet' || s.phase === 'pending';

export function Live({ updated }: { updated: string | null }) {
  const [state, setState] = useState<SocketState>('idle');
  useEffect(() => onSocketState(setState), []);
  const text = { idle: 'not live', connecting: 'connecting…', live: 'live', retrying: 'reconnecting…' }[state];
  return (
    <p class={`live live-${state}`} role="status" data-live={state}>
      Updates: {text}
      {updated ? ` · last change: ${updated}` : ''}
    </p>
  );
}

export function ErrorText({ error }: { error: string | null }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

/** A unix time (seconds) from a date input's value (end of that day, UTC), or 0 for none. */
export function endOfDay(value: string): number {
  if (!value) return 0;
  return Math.floor(Date.parse(`${value}T23:59:59Z`) / 1000);
}

/** Today + `days` as a date input's value. */
export function dateIn(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

/** A table with a header row that scrolls sideways on a narrow screen (keyboard-focusable to scroll). */
export function Table({ headers, children }: { headers: ComponentChildren[]; children: ComponentChildren }) {
  return (
    <div class="scroll" tabIndex={0}>
      <table>
        <thead>
          <tr>
            {headers.map((h, i) => (
              <th scope="col" key={i}>
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
