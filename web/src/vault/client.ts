// The record vault's HTTP API (vault/src/http.rs), same origin as the app: Sign-In with Ethereum under
// /auth, FHIR-shaped resources under /fhir. The session is the HttpOnly cookie the vault sets at sign-in;
// the bearer token it also returns is never kept by the app. Every refusal becomes a VaultRefusal with a
// sentence (sentences.ts). Document bytes go to /fhir/Binary and nowhere else.
import type { Address, Hex } from 'viem';
import { refusalSentence } from './sentences';

const FHIR = 'https://medledger.dev/fhir';

/** A refusal or failure of the vault, in words. */
export class VaultRefusal extends Error {
  constructor(
    /** The HTTP status (0: the vault could not be reached). */
    readonly status: number,
    /** The vault's refusal code (`revoked`, `session_expired`…), when it gave one. */
    readonly code: string | null,
    /** The vault's own text. */
    readonly diagnostics: string,
    sentence: string,
  ) {
    super(sentence);
  }

  /** The session is gone (missing, ended or expired): sign in again. */
  get signInAgain(): boolean {
    return this.status === 401 && (this.code == null || this.code.startsWith('session_'));
  }
}

interface Outcome {
  resourceType?: string;
  issue?: { diagnostics?: string; details?: { coding?: { system?: string; code?: string }[] } }[];
}

async function refusal(r: Response): Promise<VaultRefusal> {
  let body: Outcome | null = null;
  try {
    body = (await r.json()) as Outcome;
  } catch {
    /* not an OperationOutcome: a proxy's page */
  }
  const issue = body?.resourceType === 'OperationOutcome' ? body.issue?.[0] : undefined;
  const code = issue?.details?.coding?.find((c) => c.system === `${FHIR}/refusal`)?.code ?? null;
  const diagnostics = issue?.diagnostics ?? '';
  return new VaultRefusal(r.status, code, diagnostics, refusalSentence(r.status, code, diagnostics));
}

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  let r: Response;
  try {
    r = await fetch(path, { credentials: 'same-origin', cache: 'no-store', ...init });
  } catch {
    throw new VaultRefusal(0, null, '', 'The vault cannot be reached: check your connection and try again.');
  }
  if (!r.ok) throw await refusal(r);
  return r;
}

async function json<T>(path: string, init: RequestInit = {}): Promise<T> {
  const r = await call(path, { ...init, headers: { accept: 'application/fhir+json, application/json', ...init.headers } });
  return (await r.json()) as T;
}

// ---- sign-in ----

export interface NonceAnswer {
  nonce: string;
  domain: string;
  uri: string;
  chainId: number;
  expiresAt: string;
}

export interface Session {
  address: Address;
  expiresAt: string;
}

export const getNonce = () => json<NonceAnswer>('/auth/nonce');

export async function login(message: string, signature: Hex): Promise<Session> {
  const s = await json<Session & { token: string }>('/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message, signature }),
  });
  // The cookie carries the session; the token is not kept.
  return { address: s.address, expiresAt: s.expiresAt };
}

export async function logout(): Promise<void> {
  await call('/auth/logout', { method: 'POST' });
}

// ---- documents ----

/** A DocumentReference as the app uses it. */
export interface VaultDocument {
  id: string;
  patient: Address;
  uploader: Address;
  episode: number;
  type: string;
  contentType: string;
  size: number;
  date: string;
  anchored: boolean;
  contentHash: Hex;
  pointerHash: Hex;
}

export interface Uploaded extends VaultDocument {
  /** The salt of both hashes: the uploader's proof that the anchor is this document. */
  salt: Hex | null;
}

interface Identified {
  identifier?: { value?: string };
}
interface DocumentReference {
  id: string;
  extension?: { url: string; valueCode?: string; valueString?: string }[];
  identifier?: { system: string; value: string }[];
  type?: { coding?: { code?: string }[] };
  subject?: Identified;
  author?: Identified[];
  date: string;
  content?: { attachment?: { contentType?: string; size?: number } }[];
  context?: { encounter?: Identified[] };
}
interface Bundle<T> {
  entry?: { resource: T }[];
}

const ident = (d: DocumentReference, system: string) => d.identifier?.find((i) => i.system === `${FHIR}/${system}`)?.value as Hex;
const ext = (d: DocumentReference, name: string) => {
  const e = d.extension?.find((x) => x.url === `${FHIR}/${name}`);
  return e?.valueCode ?? e?.valueString ?? null;
};

function document(d: DocumentReference): VaultDocument {
  const a = d.content?.[0]?.attachment;
  return {
    id: d.id,
    patient: d.subject?.identifier?.value as Address,
    uploader: d.author?.[0]?.identifier?.value as Address,
    episode: Number(d.context?.encounter?.[0]?.identifier?.value),
    type: d.type?.coding?.[0]?.code ?? '',
    contentType: a?.contentType ?? 'application/octet-stream',
    size: a?.size ?? 0,
    date: d.date,
    anchored: ext(d, 'anchor-status') === 'anchored',
    contentHash: ident(d, 'contentHash'),
    pointerHash: ident(d, 'pointerHash'),
  };
}

/** The documents of `patient` the signed-in caller may see. */
export async function listDocuments(patient: Address): Promise<VaultDocument[]> {
  const b = await json<Bundle<DocumentReference>>(`/fhir/DocumentReference?patient=${patient}&_count=1000`);
  return (b.entry ?? []).map((e) => document(e.resource));
}

/** Uploads `file` into `patient`'s `episode` (the vault encrypts it); returns what to anchor. */
export async function upload(patient: Address, episode: number, type: string, contentType: string, file: Blob, maxUpload: number | null): Promise<Uploaded> {
  // Over the vault's limit (from /config.json): refused before the file is read into memory or sent.
  if (maxUpload != null && file.size > maxUpload) {
    throw new VaultRefusal(413, 'too_large', `limit ${maxUpload} bytes`, refusalSentence(413, 'too_large', `limit ${maxUpload} bytes`));
  }
  const q = new URLSearchParams({ patient, episode: String(episode), type });
  // The bytes themselves (at most the vault's limit, 25 MiB by default), not the Blob: a browser does not
  // stream a Blob body anyway, and the tests can then see exactly where the bytes went.
  const body = await file.arrayBuffer();
  const d = await json<DocumentReference>(`/fhir/Binary?${q}`, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { ...document(d), salt: ext(d, 'salt') as Hex | null };
}

/** A document's bytes (integrity-checked by the vault against its anchor). */
export async function download(id: string): Promise<Blob> {
  const r = await call(`/fhir/Binary/${encodeURIComponent(id)}`);
  try {
    return await r.blob();
  } catch {
    // The vault ends the stream when a chunk fails its integrity check: nothing of it is kept.
    throw new VaultRefusal(r.status, 'integrity', '', 'The vault stopped sending this document: a part of it failed its integrity check. Nothing was opened.');
  }
}

// ---- access log ----

export interface LogEntry {
  seq: number;
  at: string;
  actor: Address | null;
  action: string;
  outcome: 'allowed' | 'denied' | 'failed';
  reason: string;
  document: string | null;
  consentBlock: number | null;
  indexBlock: number | null;
}

interface AuditEvent {
  id: string;
  recorded: string;
  subtype?: { code: string }[];
  outcome: string;
  outcomeDesc?: string;
  agent?: { who?: Identified }[];
  entity?: { what?: { reference?: string } }[];
  extension?: { url: string; valueInteger64?: string }[];
}

/** The access log about `patient` as the caller may read it (all of it for the patient), newest first. */
export async function accessLog(patient: Address, count = 200): Promise<LogEntry[]> {
  const b = await json<Bundle<AuditEvent>>(`/fhir/AuditEvent?patient=${patient}&_count=${count}`);
  const block = (e: AuditEvent, name: string) => {
    const v = e.extension?.find((x) => x.url === `${FHIR}/${name}`)?.valueInteger64;
    return v == null ? null : Number(v);
  };
  return (b.entry ?? [])
    .map(({ resource: e }) => ({
      seq: Number(e.id),
      at: e.recorded,
      actor: (e.agent?.[0]?.who?.identifier?.value as Address | undefined) ?? null,
      action: e.subtype?.[0]?.code ?? '',
      outcome: (e.outcome === '0' ? 'allowed' : e.outcome === '4' ? 'denied' : 'failed') as LogEntry['outcome'],
      reason: e.outcomeDesc ?? '',
      document: e.entity?.map((x) => x.what?.reference?.replace(/^DocumentReference\//, '')).find(Boolean) ?? null,
      consentBlock: block(e, 'consent-block'),
      indexBlock: block(e, 'index-block'),
    }))
    .sort((a, b) => b.seq - a.seq);
}
