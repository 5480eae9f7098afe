// The vault's refusals and access-log reasons in sentences: by the refusal code the vault puts into its
// OperationOutcome (vault/src/error.rs: Denial::code, AuthError::code), by HTTP status otherwise.

const REFUSALS: Record<string, string> = {
  // Sessions: sign in again.
  session_missing: 'You are not signed in to the vault: sign in with your wallet.',
  session_unknown: 'Your vault session has ended: sign in again.',
  session_expired: 'Your vault session has expired: sign in again.',
  // Sign-in.
  malformed_message: 'The vault did not accept the sign-in message: sign in again.',
  wrong_domain: 'The sign-in message names another site than this vault: sign in again from this page.',
  wrong_uri: 'The sign-in message names another address than this vault: sign in again from this page.',
  wrong_chain: "The sign-in message is for another chain: switch your wallet to medledger's chain and sign in again.",
  unknown_nonce: 'The vault does not know this sign-in request: sign in again.',
  reused_nonce: 'This sign-in request was already used: sign in again.',
  expired_nonce: 'The sign-in request timed out before you signed it: sign in again.',
  expired_message: 'The sign-in message has expired: sign in again.',
  not_yet_valid: "The sign-in message is dated in the future: check your device's clock and sign in again.",
  bad_signature: 'The vault refused the signature: it was not made by the connected account.',
  // The access rule (403).
  no_grant: 'Refused: the patient has not granted you access to her records.',
  missing_scope: 'Refused: your access from this patient does not include this (reading needs "Read records", adding needs "Add records").',
  revoked: 'Refused: the patient has revoked your access.',
  expired: 'Refused: your access from this patient has expired.',
  hidden: 'Refused: the patient has hidden this record from the people she shares her records with.',
  credential: 'Refused: your license is suspended or revoked by the registrar.',
  emergency_credential: "Refused: emergency access needs your prescriber license to be active, and it has expired (or is not a prescriber's).",
  pending: 'Refused: this document is not anchored on chain yet; until it is, only its uploader and the patient see it.',
  // Limits and outages.
  too_large: 'The file is too large for the vault.',
  unsupported_type: 'The vault does not accept this kind of file (accepted: PDF, JSON, FHIR JSON, text, Markdown, PNG, JPEG, DICOM).',
  rate_limited: 'Too many requests to the vault: wait a few seconds and try again.',
  unavailable: 'The vault is unavailable right now (its database, chain node or storage is down): try again shortly. Nothing was decided on stale data.',
};

const BY_STATUS: Record<number, string> = {
  400: 'The vault did not accept the request',
  401: 'You are not signed in to the vault: sign in with your wallet.',
  403: 'Refused by the vault.',
  404: 'The vault has no such document (or none you may know of).',
  413: REFUSALS.too_large!,
  415: REFUSALS.unsupported_type!,
  416: 'The vault cannot serve that part of the document.',
  429: REFUSALS.rate_limited!,
  500: 'The vault failed to serve this: it may have failed its integrity check, and was not served.',
  503: REFUSALS.unavailable!,
};

/** A sentence for a refusal with HTTP `status`, the vault's `code` and its `diagnostics` text. */
export function refusalSentence(status: number, code: string | null, diagnostics: string): string {
  if (code === 'credential' && /suspended|revoked/.test(diagnostics)) {
    return `Refused: your license is ${diagnostics.match(/suspended|revoked/)![0]} by the registrar.`;
  }
  if (code === 'too_large' && /\d+ bytes/.test(diagnostics)) {
    return `The file is too large for the vault: its limit is ${sizeText(Number(diagnostics.match(/(\d+) bytes/)![1]))}.`;
  }
  const known = (code && REFUSALS[code]) || BY_STATUS[status];
  if (status === 400) return `${BY_STATUS[400]}: ${diagnostics.replace(/^bad request: /, '') || 'no reason given'}.`;
  if (status === 500 && /integrity/.test(diagnostics)) return 'The vault refused to serve this document: it failed its integrity check against the chain.';
  return known ?? `The vault answered ${status}${diagnostics ? `: ${diagnostics}` : ''}.`;
}

/** Why an access-log entry was allowed or refused, in words. */
export function logReason(outcome: string, reason: string): string {
  if (outcome === 'allowed') {
    return (
      {
        patient: 'the patient herself',
        grant: 'her consent',
        emergency: 'emergency access',
        own_entries: 'own entries only',
      }[reason] ?? reason
    );
  }
  return (
    {
      no_grant: 'no consent',
      missing_scope: 'consent lacks the scope',
      revoked: 'consent revoked',
      expired: 'consent expired',
      hidden: 'record hidden',
      credential: 'license suspended or revoked',
      pending: 'not anchored yet',
      not_found: 'no such document',
      integrity: 'integrity check failed',
      too_large: 'file too large',
      episode: 'not her open episode',
      interrupted: 'upload interrupted',
      store: 'storage failed',
    }[reason] ?? (reason || '—')
  );
}

/** The log's action in words. */
export const ACTIONS: Record<string, string> = {
  read: 'opened',
  read_metadata: 'looked up',
  search: 'listed the documents',
  write: 'uploaded',
  audit: 'read the access log',
};

/** A byte count in words (B, KiB, MiB). */
export function sizeText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
