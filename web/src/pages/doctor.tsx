// The doctor (read side): her license, the patients who granted her access, the prescriptions she issued.
// Writing a prescription comes with the prescription form.
import type { Address } from 'viem';
import type { PageProps } from './common';
import { useLive } from '../data';
import { scheduleName } from '../revert';
import { Addr, ErrorText, Live, Section, Time } from '../ui';
import { account } from '../wallet';
import { ConnectFirst } from './common';
import { CredentialLine, type Credential } from './credential';
import { DoctorRecords } from './records';

interface Consent {
  patient: Address;
  scopes: string[];
  status: string;
  expiresAt: string | null;
  accessSince: string | null;
  emergencyActive: boolean;
  emergencyUntil: string | null;
}
interface Rx {
  id: string;
  patient: Address;
  status: string;
  schedule: number;
  fills: number;
  fillsUsed: number;
  remainingQuantity: number;
  validUntil: string;
  issuedAt: string;
  dispenseCount: number;
}
interface Data {
  prescriber: {
    credential: Credential | null;
    consents: { nodes: Consent[] };
    prescriptions: { nodes: Rx[] };
  };
}

const QUERY = `query Doctor($a: Address!) {
  prescriber(address: $a) {
    credential { account credentialId kind status statusReason expiresAt schedules activeNow jurisdiction }
    consents(filter: { status: ACTIVE }, first: 100) { nodes { patient scopes status expiresAt accessSince emergencyActive emergencyUntil } }
    prescriptions(first: 100) { nodes { id patient status schedule fills fillsUsed remainingQuantity validUntil issuedAt dispenseCount } }
  }
}`;

const SCOPE: Record<string, string> = { READ: 'read records', WRITE: 'add records', PRESCRIBE: 'prescribe' };

export default function Doctor({ config }: PageProps) {
  const me = account.value;
  const live = useLive<Data>(QUERY, me ? { a: me } : null, me ? { accounts: [me] } : null);
  if (!me) return <ConnectFirst role="prescriber" />;
  const d = live.data?.prescriber;
  return (
    <>
      <h1>Your patients</h1>
      <p>
        Prescriber <Addr a={me} />
      </p>
      <Live updated={live.updated} />
      <ErrorText error={live.error} />
      {!d ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <>
          <Section title="Your license" id="license">
            {d.credential ? (
              <CredentialLine c={d.credential} />
            ) : (
              <p class="warn">This account holds no license: the registrar has not registered it as a prescriber.</p>
            )}
          </Section>
          <Section title="Patients who granted you access" id="patients">
            {d.consents.nodes.length === 0 ? (
              <p>No patient has granted you access.</p>
            ) : (
              <div class="scroll" tabIndex={0}>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Patient</th>
                      <th scope="col">You may</th>
                      <th scope="col">Since</th>
                      <th scope="col">Until</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.consents.nodes.map((c) => (
                      <tr key={c.patient} data-patient={c.patient.toLowerCase()}>
                        <td>
                          <Addr a={c.patient} />
                        </td>
                        <td>
                          {c.status === 'ACTIVE' ? c.scopes.map((s) => SCOPE[s] ?? s).join(', ') : ''}
                          {c.emergencyActive && <span class="badge emergency">emergency read access</span>}
                        </td>
                        <td>
                          <Time t={c.accessSince} />
                        </td>
                        <td>{c.emergencyActive && c.status !== 'ACTIVE' ? <Time t={c.emergencyUntil} /> : <Time t={c.expiresAt} empty="no end" />}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Section>
          <DoctorRecords config={config} patients={d.consents.nodes.filter((c) => c.scopes.includes('READ') || c.emergencyActive).map((c) => c.patient)} />
          <Section title="Prescriptions you issued" id="issued">
            <p class="notice">Writing and signing a prescription in the browser comes next; meanwhile <code>medledger rx new</code> and <code>medledger rx issue</code> do it.</p>
            {d.prescriptions.nodes.length === 0 ? (
              <p>None yet.</p>
            ) : (
              <div class="scroll" tabIndex={0}>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Issued</th>
                      <th scope="col">Patient</th>
                      <th scope="col">Schedule</th>
                      <th scope="col">Status</th>
                      <th scope="col">Fills used</th>
                      <th scope="col">Dispenses</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.prescriptions.nodes.map((r) => (
                      <tr key={r.id} data-rx={r.id}>
                        <td>
                          <Time t={r.issuedAt} />
                        </td>
                        <td>
                          <Addr a={r.patient} />
                        </td>
                        <td>{scheduleName(r.schedule)}</td>
                        <td>{r.status.toLowerCase()}</td>
                        <td>
                          {r.fillsUsed} of {r.fills}
                        </td>
                        <td>{r.dispenseCount}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Section>
        </>
      )}
    </>
  );
}
