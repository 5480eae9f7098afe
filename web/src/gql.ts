// A tiny GraphQL client: queries with fetch, subscriptions with the graphql-transport-ws protocol over one
// shared WebSocket (opened on the first subscription, re-opened with backoff, every subscription resumed).

export class GraphQLRequestError extends Error {}

interface Payload {
  data?: unknown;
  errors?: { message: string }[];
}

export async function query<T>(text: string, variables: Record<string, unknown> = {}): Promise<T> {
  const r = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query: text, variables }),
  });
  let body: Payload;
  try {
    body = (await r.json()) as Payload;
  } catch {
    throw new GraphQLRequestError(`the API answered ${r.status} without JSON`);
  }
  if (body.errors?.length) throw new GraphQLRequestError(body.errors.map((e) => e.message).join('; '));
  if (!r.ok || body.data == null) throw new GraphQLRequestError(`the API answered ${r.status}`);
  return body.data as T;
}

export interface Sink<T> {
  next(data: T): void;
  error?(message: string): void;
  /** The socket (re)connected: events between a drop and now were missed, refetch. */
  reconnected?(): void;
}

interface Active {
  payload: { query: string; variables: Record<string, unknown> };
  sink: Sink<unknown>;
}

const active = new Map<string, Active>();
let socket: WebSocket | null = null;
let acked = false;
let nextId = 1;
let retry = 0;
let everConnected = false;
const listeners = new Set<(state: SocketState) => void>();
export type SocketState = 'idle' | 'connecting' | 'live' | 'retrying';
let state: SocketState = 'idle';

function setState(s: SocketState) {
  state = s;
  for (const l of listeners) l(s);
}

export function onSocketState(l: (state: SocketState) => void): () => void {
  listeners.add(l);
  l(state);
  return () => listeners.delete(l);
}

function send(message: unknown) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function open() {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  const ws = new WebSocket(url, 'graphql-transport-ws');
  socket = ws;
  acked = false;
  setState(retry ? 'retrying' : 'connecting');
  ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  ws.onmessage = (m) => {
    let msg: { type: string; id?: string; payload?: unknown };
    try {
      msg = JSON.parse(String(m.data));
    } catch {
      return;
    }
    const sub = msg.id ? active.get(msg.id) : undefined;
    switch (msg.type) {
      case 'connection_ack': {
        acked = true;
        retry = 0;
        setState('live');
        for (const [id, a] of active) send({ id, type: 'subscribe', payload: a.payload });
        if (everConnected) for (const a of active.values()) a.sink.reconnected?.();
        everConnected = true;
        break;
      }
      case 'ping':
        send({ type: 'pong' });
        break;
      case 'next': {
        const p = msg.payload as Payload;
        if (p.errors?.length) sub?.sink.error?.(p.errors.map((e) => e.message).join('; '));
        else if (p.data != null) sub?.sink.next(p.data);
        break;
      }
      case 'error': {
        const errors = msg.payload as { message: string }[];
        sub?.sink.error?.(errors.map((e) => e.message).join('; '));
        if (msg.id) active.delete(msg.id);
        break;
      }
      case 'complete':
        if (msg.id) active.delete(msg.id);
        break;
    }
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    acked = false;
    if (active.size === 0) {
      setState('idle');
      return;
    }
    retry += 1;
    setState('retrying');
    setTimeout(() => {
      if (!socket && active.size) open();
    }, Math.min(10_000, 250 * 2 ** retry));
  };
}

/** Starts a subscription; the returned function ends it. */
export function subscribe<T>(text: string, variables: Record<string, unknown>, sink: Sink<T>): () => void {
  const id = String(nextId++);
  const payload = { query: text, variables };
  active.set(id, { payload, sink: sink as Sink<unknown> });
  if (!socket) open();
  else if (acked) send({ id, type: 'subscribe', payload });
  return () => {
    if (!active.delete(id)) return;
    send({ id, type: 'complete' });
    if (active.size === 0) {
      const ws = socket;
      socket = null;
      setState('idle');
      ws?.close(1000);
    }
  };
}
