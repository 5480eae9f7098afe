// A credential in one line: kind, status, expiry, schedules.
import { Time } from '../ui';

export interface Credential {
  account: string;
  credentialId: number;
  kind: string;
  status: string;
  statusReason: number | null;
  expiresAt: string;
  schedules: number[];
  activeNow: boolean;
  jurisdiction: string;
}

/** The DEA's controlled-substance schedules (21 CFR 1308.12–15) a credential may hold, with what each means. */
export const SCHEDULES = [
  { n: 2, roman: 'II', meaning: 'high potential for abuse, e.g. oxycodone, fentanyl, amphetamine' },
  { n: 3, roman: 'III', meaning: 'moderate potential, e.g. buprenorphine, ketamine, anabolic steroids' },
  { n: 4, roman: 'IV', meaning: 'low potential, e.g. benzodiazepines, tramadol, zolpidem' },
  { n: 5, roman: 'V', meaning: 'lowest potential, e.g. low-dose codeine cough syrups, pregabalin' },
] as const;

export function schedulesText(s: number[]) {
  return s.length ? s.map((n) => SCHEDULES.find((x) => x.n === n)?.roman ?? n).join(', ') : 'none';
}

export function jurisdictionText(hex: string) {
  const bytes = hex.replace(/^0x/, '').match(/../g) ?? [];
  return bytes.map((b) => parseInt(b, 16)).filter((c) => c > 0).map((c) => String.fromCharCode(c)).join('') || hex;
}

export function CredentialLine({ c }: { c: Credential }) {
  const expired = c.status === 'active' && !c.activeNow;
  return (
    <p data-credential-status={c.status}>
      License #{c.credentialId} ({c.kind}, {jurisdictionText(c.jurisdiction)}):{' '}
      <strong class={`status status-${c.status}`}>{expired ? 'expired' : c.status}</strong>
      {c.statusReason ? ` (reason ${c.statusReason})` : ''}; expires <Time t={c.expiresAt} />; controlled schedules {schedulesText(c.schedules)}.
    </p>
  );
}
