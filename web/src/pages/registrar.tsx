// The registrar: every registered prescriber and pharmacy; license a new one; renew, change schedules,
// suspend, reinstate or revoke one.
import { useEffect, useState } from 'preact/hooks';
import { isAddress, isHex, stringToHex, type Address, type Hex } from 'viem';
import { randomSalt, saltedHash } from '../commitment';
import type { AppConfig } from '../config';
import type { PageProps } from './common';
import { useLive } from '../data';
import { explain, read, send } from '../tx';
import { Addr, busy, dateIn, endOfDay, ErrorText, Live, Section, Time, TxStatus, useTx } from '../ui';
import { account } from '../wallet';
import { ConnectFirst } from './common';
import { jurisdictionText, SCHEDULES, schedulesText, type Credential } from './credential';

interface Full extends Credential {
  licenseHash: Hex;
  updatedAt: string;
}

const LIST = `query Registered { events(filter: { contracts: [CREDENTIAL_REGISTRY], names: ["CredentialRegistered"] }, first: 100) { nodes { args } } }`;
const FIELDS = `account credentialId kind status statusReason expiresAt schedules activeNow jurisdiction licenseHash updatedAt`;
const WATCH = { contracts: ['CREDENTIAL_REGISTRY'] };

const bitsOf = (s: number[]) => s.reduce((b, n) => b | (1 << n), 0);

/**
 * A license as its salted commitment keccak256(salt ‖ text) with a fresh salt (as `medledger credential`
 * commits to it), or a 0x hash as is (no salt).
 */
function licenseHash(text: string): { hash: Hex; salt: Hex | null } {
  const t = text.trim();
  if (isHex(t) && t.length === 66) return { hash: t as Hex, salt: null };
  const salt = randomSalt();
  return { hash: saltedHash(salt, t), salt };
}

/** The salt of a license's commitment, to keep with the license document. */
function LicenseSalt({ salt }: { salt: Hex | null }) {
  if (!salt) return null;
  return (
    <p class="small" data-testid="license-salt">
      License salt <code>{salt}</code>: keep it with the license document; it proves the hash on chain, and without it
      a guessed license number cannot be confirmed.
    </p>
  );
}

/** A jurisdiction code (up to 8 ASCII characters, e.g. "US-CA") as bytes8. */
function jurisdiction(text: string): Hex | null {
  const t = text.trim();
  if (!t || t.length > 8 || !/^[\x20-\x7e]+$/.test(t)) return null;
  return stringToHex(t, { size: 8 });
}

export default function Registrar({ config }: PageProps) {
  const me = account.value;
  const list = useLive<{ events: { nodes: { args: { account: Address } }[] } }>(LIST, me ? {} : null, me ? WATCH : null);
  const accounts = [...new Set(list.data?.events.nodes.map((n) => n.args.account) ?? [])];
  const text = accounts.length
    ? `query Credentials(${accounts.map((_, i) => `$a${i}: Address!`).join(', ')}) { ${accounts
        .map((_, i) => `c${i}: credential(account: $a${i}) { ${FIELDS} }`)
        .join(' ')} }`
    : '';
  const vars = accounts.length ? Object.fromEntries(accounts.map((a, i) => [`a${i}`, a])) : null;
  const creds = useLive<Record<string, Full | null>>(text, vars, vars ? WATCH : null);
  const [selected, setSelected] = useState<string | null>(null);
  const [isRegistrar, setIsRegistrar] = useState<boolean | null>(null);

  useEffect(() => {
    if (!me) return;
    (async () => {
      const role = await read<Hex>(config, 'CredentialRegistry', 'REGISTRAR_ROLE', []);
      setIsRegistrar(await read<boolean>(config, 'CredentialRegistry', 'hasRole', [role, me]));
    })().catch(() => setIsRegistrar(null));
  }, [me]);

  if (!me) return <ConnectFirst role="registrar" />;
  const all = Object.values(creds.data ?? {}).filter((c): c is Full => c != null);
  const current = all.find((c) => c.account === selected) ?? null;
  return (
    <>
      <h1>Licenses</h1>
      <p>
        Registrar <Addr a={me} />
        {isRegistrar === false && (
          <span class="warn" role="note">
            {' '}
            This account does not hold the registrar role: the contract will refuse its changes.
          </span>
        )}
      </p>
      <Live updated={creds.updated ?? list.updated} />
      <ErrorText error={list.error ?? creds.error} />
      <Section title="Prescribers and pharmacies" id="credentials">
        {!creds.data && accounts.length > 0 ? (
          <p aria-busy="true">Loading…</p>
        ) : all.length === 0 ? (
          <p>No license registered yet.</p>
        ) : (
          <div class="scroll" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Account</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Status</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Schedules</th>
                  <th scope="col">
                    <span class="sr">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {all.map((c) => (
                  <tr key={c.account} data-account={c.account.toLowerCase()} aria-selected={c.account === selected}>
                    <td>
                      <Addr a={c.account} /> <span class="small">#{c.credentialId} {jurisdictionText(c.jurisdiction)}</span>
                    </td>
                    <td>{c.kind}</td>
                    <td>
                      <span class={`status status-${c.status}`} data-status={c.status}>
                        {c.status === 'active' && !c.activeNow ? 'expired' : c.status}
                      </span>
                      {c.statusReason ? <span class="small"> (reason {c.statusReason})</span> : null}
                    </td>
                    <td>
                      <Time t={c.expiresAt} />
                    </td>
                    <td data-schedules={c.schedules.join(',')}>{schedulesText(c.schedules)}</td>
                    <td>
                      <button type="button" aria-label={`Manage ${c.account}`} aria-expanded={c.account === selected} onClick={() => setSelected(c.account === selected ? null : c.account)}>
                        Manage
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      {current && <Manage key={current.account} config={config} c={current} />}
      <Register config={config} />
    </>
  );
}

/** The DEA schedules a prescriber may prescribe or a pharmacy may dispense (checked by the contract at both). */
function ScheduleBoxes({ value, onChange, name, kind }: { value: number[]; onChange: (s: number[]) => void; name: string; kind: string }) {
  const may = kind === 'pharmacy' ? 'may dispense' : 'may prescribe';
  return (
    <fieldset class="schedules">
      <legend>Controlled-substance schedules this {kind} {may}</legend>
      <p class="small" id={`${name}-hint`}>
        The contract checks them when a prescription is issued and again at every dispense. None checked: no controlled
        substance.
      </p>
      {SCHEDULES.map(({ n, roman, meaning }) => (
        <label class="inline" key={n}>
          <input
            type="checkbox"
            name={`${name}-${n}`}
            aria-describedby={`${name}-hint`}
            checked={value.includes(n)}
            onChange={(e) => onChange(e.currentTarget.checked ? [...value, n].sort() : value.filter((x) => x !== n))}
          />
          Schedule {roman} <span class="small">({meaning})</span>
        </label>
      ))}
    </fieldset>
  );
}

function Manage({ config, c }: { config: AppConfig; c: Full }) {
  const [tx, setTx] = useTx();
  // Renewal: a year past the current expiry (or from today when it has passed).
  const [until, setUntil] = useState(new Date(Math.max(Date.parse(c.expiresAt), Date.now()) + 365 * 86_400_000).toISOString().slice(0, 10));
  const [license, setLicense] = useState('');
  const [renewSalt, setRenewSalt] = useState<Hex | null>(null);
  const [schedules, setSchedules] = useState<number[]>(c.schedules);
  const [reason, setReason] = useState(1);
  const [armed, setArmed] = useState(false);
  const who = c.account as Address;
  const act = (fn: string, args: unknown[], label: string) => send(config, 'CredentialRegistry', fn, args, setTx, label);
  return (
    <Section title={`Manage ${c.kind} #${c.credentialId}`} id="manage" focus>
      <p>
        <Addr a={c.account} />: {c.status}, expires <Time t={c.expiresAt} />, updated <Time t={c.updatedAt} />.
      </p>
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          const renewed = license.trim() ? licenseHash(license) : { hash: c.licenseHash, salt: null };
          setRenewSalt(null);
          void act('renew', [who, renewed.hash, endOfDay(until)], `Renew ${who}`).then((ok) => ok && setRenewSalt(renewed.salt));
        }}
      >
        <h3>Renew</h3>
        <label>
          New expiry
          <input type="date" name="renew-until" value={until} onInput={(e) => setUntil(e.currentTarget.value)} required />
        </label>
        <label>
          New license number (empty: keep the current one)
          <input name="renew-license" value={license} onInput={(e) => setLicense(e.currentTarget.value)} autocomplete="off" />
        </label>
        <button type="submit" disabled={busy(tx)}>
          Renew
        </button>
      </form>
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          void act('setSchedules', [who, bitsOf(schedules)], `Change the schedules of ${who}`);
        }}
      >
        <h3>Schedules</h3>
        <ScheduleBoxes value={schedules} onChange={setSchedules} name="manage-schedule" kind={c.kind} />
        <button type="submit" disabled={busy(tx)}>
          Save schedules
        </button>
      </form>
      <div class="form">
        <h3>Status</h3>
        <label>
          Reason code
          <input type="number" name="reason" min={0} max={65535} value={reason} onInput={(e) => setReason(Number(e.currentTarget.value) || 0)} />
        </label>
        <div class="row">
          {c.status === 'suspended' ? (
            <button type="button" disabled={busy(tx)} onClick={() => act('reinstate', [who], `Reinstate ${who}`)}>
              Reinstate
            </button>
          ) : (
            <button type="button" disabled={busy(tx)} onClick={() => act('suspend', [who, reason], `Suspend ${who}`)}>
              Suspend
            </button>
          )}
          {armed ? (
            <>
              <button type="button" class="danger" disabled={busy(tx)} onClick={() => act('revoke', [who, reason], `Revoke ${who}`)}>
                Confirm: revoke for good
              </button>
              <button type="button" class="link" onClick={() => setArmed(false)}>
                Keep it
              </button>
            </>
          ) : (
            <button type="button" class="danger" disabled={busy(tx)} onClick={() => setArmed(true)}>
              Revoke…
            </button>
          )}
        </div>
      </div>
      <TxStatus state={tx} config={config} />
      <LicenseSalt salt={renewSalt} />
    </Section>
  );
}

function Register({ config }: { config: AppConfig }) {
  const [tx, setTx] = useTx();
  const [who, setWho] = useState('');
  const [kind, setKind] = useState(1);
  const [license, setLicense] = useState('');
  const [where, setWhere] = useState('US-CA');
  const [until, setUntil] = useState(dateIn(365));
  const [schedules, setSchedules] = useState<number[]>([]);
  const [salt, setSalt] = useState<Hex | null>(null);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!isAddress(who)) return setError('Enter the account as an address: 0x followed by 40 hex digits.');
    if (!license.trim()) return setError('Enter the license number (or its 0x hash).');
    const j = jurisdiction(where);
    if (!j) return setError('The jurisdiction is 1 to 8 plain characters, e.g. US-CA.');
    setSalt(null);
    try {
      const committed = licenseHash(license);
      const ok = await send(
        config,
        'CredentialRegistry',
        'register',
        [who, kind, committed.hash, j, endOfDay(until), bitsOf(schedules)],
        setTx,
        `License ${who}`,
      );
      if (ok) {
        setWho('');
        setLicense('');
        setSalt(committed.salt);
      }
    } catch (err) {
      setError(explain(err));
    }
  };
  return (
    <Section title="License a prescriber or pharmacy" id="register">
      <form class="form" onSubmit={submit}>
        <label>
          Account
          <input name="account" value={who} onInput={(e) => setWho(e.currentTarget.value.trim())} placeholder="0x…" autocomplete="off" spellcheck={false} required />
        </label>
        <label>
          Kind
          <select name="kind" value={kind} onChange={(e) => setKind(Number(e.currentTarget.value))}>
            <option value={1}>Prescriber</option>
            <option value={2}>Pharmacy</option>
          </select>
        </label>
        <label>
          License number (only its salted hash goes on chain)
          <input name="license" value={license} onInput={(e) => setLicense(e.currentTarget.value)} autocomplete="off" required />
        </label>
        <label>
          Jurisdiction
          <input name="jurisdiction" value={where} onInput={(e) => setWhere(e.currentTarget.value)} maxLength={8} required />
        </label>
        <label>
          Expires
          <input type="date" name="expires" value={until} onInput={(e) => setUntil(e.currentTarget.value)} required />
        </label>
        <ScheduleBoxes value={schedules} onChange={setSchedules} name="register-schedule" kind={kind === 1 ? 'prescriber' : 'pharmacy'} />
        <button type="submit" disabled={busy(tx)}>
          License
        </button>
      </form>
      <ErrorText error={error} />
      <TxStatus state={tx} config={config} />
      <LicenseSalt salt={salt} />
    </Section>
  );
}
