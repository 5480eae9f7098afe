// Break-glass: a prescriber opens emergency READ access to a patient who has not granted it, committing a
// written justification (its text and salt stay in the browser and in the file she keeps for the reviewer;
// the chain gets keccak256(salt ‖ text) and a reason code). The patient keeps a block list of prescribers who
// may never open it to her records.
import { useState } from 'preact/hooks';
import { isAddress, type Address, type Hex } from 'viem';
import type { AppConfig } from '../config';
import { randomSalt, saltedHash } from '../commitment';
import { download } from '../rx/files';
import { send } from '../tx';
import { Addr, busy, ErrorText, Section, TxStatus, useTx } from '../ui';
import { account } from '../wallet';

/** The break-glass reason codes (docs/security.md, "Break-glass reason codes"); 0 is refused by the contract. */
export const EMERGENCY_REASONS = [
  { code: 1, text: 'Unconscious or unable to communicate' },
  { code: 2, text: 'Life-threatening condition: no time to obtain consent' },
  { code: 3, text: 'Lacks decision-making capacity, no representative reachable' },
  { code: 4, text: 'Mass-casualty or disaster response' },
] as const;

export const reasonText = (code: number | null) => EMERGENCY_REASONS.find((r) => r.code === code)?.text ?? (code == null ? '' : `code ${code}`);

/** The contract's bound on one emergency access (MAX_EMERGENCY_DURATION: 24 hours). */
const MAX_HOURS = 24;
/** A justification a reviewer can judge, not a placeholder. */
const MIN_JUSTIFICATION = 20;

interface Opened {
  file: string;
  name: string;
  hash: Hex;
}

/** The doctor's form: patient, reason, hours, justification; the committed justification to keep afterwards. */
export function OpenEmergency({ config, me }: { config: AppConfig; me: Address }) {
  const [tx, setTx] = useTx();
  const [patient, setPatient] = useState('');
  const [reason, setReason] = useState(0);
  const [hours, setHours] = useState(4);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [opened, setOpened] = useState<Opened | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setOpened(null);
    if (!isAddress(patient)) return setError("Enter the patient's account as an address: 0x followed by 40 hex digits.");
    if (!reason) return setError('Choose the reason for emergency access.');
    if (!Number.isInteger(hours) || hours < 1 || hours > MAX_HOURS) return setError(`Emergency access lasts 1 to ${MAX_HOURS} hours.`);
    const justification = text.trim();
    if (justification.length < MIN_JUSTIFICATION) return setError(`Write the justification (at least ${MIN_JUSTIFICATION} characters): a reviewer reads it.`);
    const salt = randomSalt();
    const hash = saltedHash(salt, justification);
    const ok = await send(config, 'ConsentRegistry', 'openEmergencyAccess', [patient, reason, hash, hours * 3600], setTx, `Emergency access to ${patient}`);
    if (!ok) return;
    const file = JSON.stringify(
      {
        kind: 'medledger emergency access justification',
        chainId: config.chainId,
        consentRegistry: config.contracts?.ConsentRegistry,
        patient,
        grantee: me,
        reasonCode: reason,
        reason: reasonText(reason),
        hours,
        justification,
        salt,
        justificationHash: hash,
        hashed: 'keccak256(salt ‖ UTF-8 justification)',
      },
      null,
      2,
    );
    setOpened({ file, name: `emergency-${patient.slice(2, 10).toLowerCase()}-${hash.slice(2, 10)}.json`, hash });
    setText('');
  };
  return (
    <Section title="Emergency access" id="emergency">
      <p class="warn" role="note">
        Break-glass: opens read access to a patient's records without her consent, for at most {MAX_HOURS} hours. Every use is logged on chain,
        shown to the patient at once and reviewed; misuse is sanctioned. It cannot be extended, and the same patient cannot be opened again for 7
        days after it ends.
      </p>
      <form class="form" onSubmit={submit} noValidate>
        <label>
          Patient account
          <input name="emergency-patient" value={patient} onInput={(e) => setPatient(e.currentTarget.value.trim())} placeholder="0x…" autocomplete="off" spellcheck={false} required />
        </label>
        <label>
          Reason
          <select name="emergency-reason" value={String(reason)} onChange={(e) => setReason(Number(e.currentTarget.value))} required>
            <option value="0">Choose a reason…</option>
            {EMERGENCY_REASONS.map((r) => (
              <option key={r.code} value={String(r.code)}>
                {r.code}: {r.text}
              </option>
            ))}
          </select>
        </label>
        <label>
          For (hours, 1 to {MAX_HOURS})
          <input type="number" name="emergency-hours" min={1} max={MAX_HOURS} value={hours} onInput={(e) => setHours(Number(e.currentTarget.value))} required />
        </label>
        <label>
          Justification (stays in this browser and in the file you keep; the chain gets only its salted hash)
          <textarea name="emergency-justification" rows={4} value={text} onInput={(e) => setText(e.currentTarget.value)} required />
        </label>
        <button type="submit" class="danger" disabled={busy(tx)}>
          Open emergency access
        </button>
      </form>
      <ErrorText error={error} />
      <TxStatus state={tx} config={config} />
      {opened && (
        <div data-testid="emergency-opened">
          <p>
            Keep your justification for the reviewer: the chain holds only its hash <code class="hash">{opened.hash}</code>, and nothing else has the
            text or the salt that proves it.
          </p>
          <button type="button" onClick={() => download(opened.name, opened.file)}>
            Download the justification
          </button>
        </div>
      )}
    </Section>
  );
}

/** The patient's block list: prescribers who may not open emergency access to her records. */
export function EmergencyBlocks({ config, blocked }: { config: AppConfig; blocked: Address[] }) {
  const [tx, setTx] = useTx();
  const [who, setWho] = useState('');
  const [error, setError] = useState<string | null>(null);
  const set = (grantee: string, block: boolean) =>
    send(config, 'ConsentRegistry', 'setEmergencyBlock', [grantee, block], setTx, `${block ? 'Block' : 'Unblock'} ${grantee}`);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!isAddress(who)) return setError("Enter the prescriber's account as an address: 0x followed by 40 hex digits.");
    if (await set(who, true)) setWho('');
  };
  return (
    <Section title="Blocked from emergency access" id="blocks">
      <p>
        A prescriber on this list can never open emergency access to your records; blocking one ends an emergency access they hold now.
      </p>
      {blocked.length === 0 ? (
        <p>Nobody is blocked.</p>
      ) : (
        <ul class="plain blocked">
          {blocked.map((a) => (
            <li key={a} data-blocked={a.toLowerCase()}>
              <Addr a={a} />{' '}
              <button type="button" class="secondary" disabled={busy(tx)} aria-label={`Unblock ${a}`} onClick={() => set(a, false)}>
                Unblock
              </button>
            </li>
          ))}
        </ul>
      )}
      <form class="form" onSubmit={submit} noValidate>
        <label>
          Prescriber to block
          <input name="block" value={who} onInput={(e) => setWho(e.currentTarget.value.trim())} placeholder="0x…" autocomplete="off" spellcheck={false} required />
        </label>
        <button type="submit" disabled={busy(tx)}>
          Block from emergency access
        </button>
      </form>
      <ErrorText error={error} />
      <TxStatus state={tx} config={config} />
    </Section>
  );
}

/** The grantee ends her own open emergency access early (the contract lets the patient or the grantee). */
export function EndOwnEmergency({ config, patient }: { config: AppConfig; patient: Address }) {
  const [tx, setTx] = useTx();
  return (
    <>
      <button
        type="button"
        disabled={busy(tx)}
        aria-label={`End emergency access to ${patient}`}
        onClick={() => void send(config, 'ConsentRegistry', 'endEmergencyAccess', [patient, account.value], setTx, `End emergency access to ${patient}`)}
      >
        End emergency access
      </button>
      <TxStatus state={tx} config={config} />
    </>
  );
}

