// The doctor: her license, the patients who granted her access, emergency (break-glass) access, the
// prescriptions she issued.
// Writing a prescription: /doctor/prescribe (pages/prescribe.tsx).
import type { Address } from 'viem';
import type { PageProps } from './common';
import { useLive } from '../data';
import { navigate } from '../router';
import { Issued, ISSUED_FIELDS, type IssuedRx } from '../rx/issued';
import { Addr, ErrorText, Live, Section, Time } from '../ui';
import { account } from '../wallet';
import { ConnectFirst } from './common';
import { CredentialLine, type Credential } from './credential';
import { EndOwnEmergency, OpenEmergency } from './emergency';
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
interface Data {
  prescriber: {
    credential: Credential | null;
    consents: { nodes: Consent[] };
    prescriptions: { nodes: IssuedRx[] };
  };
}

const QUERY = `query Doctor($a: Address!) {
  prescriber(address: $a) {
    credential { account credentialId kind status statusReason expiresAt schedules activeNow jurisdiction }
    consents(filter: { status: ACTIVE }, first: 100) { nodes { patient scopes status expiresAt accessSince emergencyActive emergencyUntil } }
    prescriptions(first: 100) { nodes { ${ISSUED_FIELDS} } }
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
                      <th scope="col">
                        <span class="sr">Actions</span>
                      </th>
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
                        <td>{c.emergencyActive && <EndOwnEmergency config={config} patient={c.patient} />}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Section>
          <DoctorRecords
            config={config}
            patients={d.consents.nodes.filter((c) => c.scopes.includes('READ') || c.emergencyActive).map((c) => c.patient)}
            writers={d.consents.nodes.filter((c) => c.status === 'ACTIVE' && c.scopes.includes('WRITE')).map((c) => c.patient)}
          />
          <OpenEmergency config={config} me={me} />
          <p>
            <a
              class="button"
              href="/doctor/prescribe"
              onClick={(e) => {
                e.preventDefault();
                navigate('/doctor/prescribe');
              }}
            >
              Write a prescription
            </a>
          </p>
          <Issued config={config} rx={d.prescriptions.nodes} />
        </>
      )}
    </>
  );
}
