// A page's data: one GraphQL query, fetched again whenever a subscribed event arrives (and after the
// WebSocket reconnects, since events may have been missed meanwhile).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { query, subscribe } from './gql';

const EVENTS = `subscription Live($filter: EventFilter) { events(filter: $filter) { name blockNumber } }`;

export interface Live<T> {
  data: T | null;
  error: string | null;
  /** The last event that changed the data, e.g. "ConsentGranted (block 42)". */
  updated: string | null;
  reload: () => void;
}

/** `filter`: one event filter, or several (one subscription each: an event matching any of them refetches). */
export function useLive<T>(
  text: string,
  variables: Record<string, unknown> | null,
  filter: Record<string, unknown> | Record<string, unknown>[] | null,
): Live<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [updated, setUpdated] = useState<string | null>(null);
  const key = JSON.stringify([variables, filter]);
  const seq = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const reload = useCallback(() => {
    if (!variables) return;
    const mine = ++seq.current;
    query<T>(text, variables).then(
      (d) => {
        if (mine !== seq.current) return;
        setData(d);
        setError(null);
      },
      (e: unknown) => {
        if (mine === seq.current) setError(e instanceof Error ? e.message : String(e));
      },
    );
  }, [text, key]);

  useEffect(() => {
    setData(null);
    setUpdated(null);
    if (!variables) return;
    reload();
    if (!filter) return;
    const later = () => {
      clearTimeout(timer.current);
      timer.current = setTimeout(reload, 100);
    };
    const stops = (Array.isArray(filter) ? filter : [filter]).map((f) =>
      subscribe<{ events: { name: string; blockNumber: number } }>(EVENTS, { filter: f }, {
        next: (d) => {
          setUpdated(`${d.events.name} (block ${d.events.blockNumber})`);
          later();
        },
        error: (m) => setError(`live updates: ${m}`),
        reconnected: later,
      }),
    );
    return () => {
      clearTimeout(timer.current);
      for (const stop of stops) stop();
    };
  }, [key, reload]);

  return { data, error, updated, reload };
}
