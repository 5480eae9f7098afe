// The doctor's view of her patients' records in the vault: for each patient who granted access (or any
// address she types), the documents the vault lets her see, and opening one; with an "Add records" grant,
// adding a document to one of the patient's episodes. The vault decides every request against the chain as
// indexed: a refusal says why (no grant, revoked, expired, hidden…).
import { useEffect, useState } from 'preact/hooks';
import { isAddress, type Address } from 'viem';
import type { AppConfig } from '../config';
import { query } from '../gql';
import { Addr, ErrorText, Section } from '../ui';
import { listDocuments, type VaultDocument } from '../vault/client';
import { withSession } from '../vault/session';
import { DocumentTable, useViewer, VaultSignIn, Viewer } from '../vault/ui';
import { Upload, type EpisodeRecords } from './documents';

const EPISODES = `query Episodes($a: Address!) { patient(address: $a) { episodes(first: 20) { nodes { id closed } } } }`;

/** `patients`: who granted her reading; `writers`: who granted her adding records (the vault decides anyway). */
export function DoctorRecords({ config, patients, writers }: { config: AppConfig; patients: Address[]; writers: Address[] }) {
  const [patient, setPatient] = useState<Address | null>(null);
  return (
    <Section title="Your patients' records" id="records">
      <VaultSignIn config={config}>
        <Picker patients={patients} choose={setPatient} />
        {patient && <PatientRecords key={patient} config={config} patient={patient} writable={writers.some((w) => w.toLowerCase() === patient.toLowerCase())} />}
      </VaultSignIn>
    </Section>
  );
}

function Picker({ patients, choose }: { patients: Address[]; choose: (a: Address) => void }) {
  const [typed, setTyped] = useState('');
  const [error, setError] = useState<string | null>(null);
  return (
    <>
      {patients.length > 0 && (
        <ul class="plain row" aria-label="Patients who granted you access">
          {patients.map((p) => (
            <li key={p}>
              <Addr a={p} />{' '}
              <button type="button" aria-label={`Open records of ${p}`} onClick={() => choose(p)}>
                Open records
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          setError(null);
          if (!isAddress(typed)) return setError("Enter the patient's address: 0x followed by 40 hex digits.");
          choose(typed as Address);
        }}
      >
        <label>
          Another patient's address
          <input name="patient" value={typed} onInput={(e) => setTyped(e.currentTarget.value.trim())} placeholder="0x…" autocomplete="off" spellcheck={false} />
        </label>
        <button type="submit">Open records</button>
      </form>
      <ErrorText error={error} />
    </>
  );
}

function PatientRecords({ config, patient, writable }: { config: AppConfig; patient: Address; writable: boolean }) {
  const [docs, setDocs] = useState<VaultDocument[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [episodes, setEpisodes] = useState<Pick<EpisodeRecords, 'id' | 'closed'>[] | null>(null);
  const [opened, open, close] = useViewer();
  const loadEpisodes = () => {
    if (!writable) return;
    query<{ patient: { episodes: { nodes: { id: number; closed: boolean }[] } } }>(EPISODES, { a: patient }).then(
      (d) => setEpisodes(d.patient.episodes.nodes),
      (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
    );
  };
  useEffect(loadEpisodes, [patient, writable]);
  const load = () => {
    setError(null);
    withSession(() => listDocuments(patient)).then(setDocs, (e: unknown) => {
      setDocs(null);
      setError(e instanceof Error ? e.message : String(e));
    });
  };
  useEffect(load, [patient]);
  return (
    <div class="patient-records" role="region" aria-labelledby="patient-records" data-patient={patient.toLowerCase()}>
      <h3 id="patient-records">
        Records of <Addr a={patient} />
      </h3>
      <button type="button" class="link" onClick={load}>
        Reload the list
      </button>
      {error && (
        <p class="error" role="alert" data-testid="records-refused">
          {error}
        </p>
      )}
      {docs == null ? (
        !error && <p aria-busy="true">Loading…</p>
      ) : docs.length === 0 ? (
        <p>The vault holds no document of this patient that you may see.</p>
      ) : (
        <DocumentTable docs={docs} onOpen={open} />
      )}
      <Viewer opened={opened} close={close} />
      {writable && episodes && (
        <Upload
          config={config}
          patient={patient}
          episodes={episodes}
          done={() => {
            load();
            loadEpisodes();
          }}
        />
      )}
    </div>
  );
}
