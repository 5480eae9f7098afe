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

const ROMAN: Record<number, string> = { 2: 'II', 3: 'III', 4: 'IV', 5: 'V' };

export function schedulesText(s: number[]) {
  return s.length ? s.map((n) => ROMAN[n] ?? n).join(', ') : 'none';
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
