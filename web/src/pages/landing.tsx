// The start: what medledger is, and a way in for each role.
import type { PageProps } from './common';
import { navigate } from '../router';
import { account } from '../wallet';

const roles = [
  { to: '/patient', name: 'Patient', text: 'See who can read your records, grant and revoke access, hide records, follow your prescriptions.' },
  { to: '/doctor', name: 'Doctor', text: 'Your license and the patients who granted you access; write, sign and cancel prescriptions.' },
  { to: '/pharmacy', name: 'Pharmacy', text: "Scan or paste a patient's prescription, verify it and dispense; your queue and history." },
  { to: '/registrar', name: 'Registrar', text: 'License, renew, suspend and revoke prescribers and pharmacies.' },
];

export default function Landing({ config }: PageProps) {
  return (
    <>
      <h1>medledger</h1>
      <p class="lead">
        Patient-controlled access to medical records and auditable e-prescriptions. Every grant, record and prescription is
        checked by contracts on chain {config.chainId}; no health data leaves your browser for the chain or this server.
      </p>
      {!account.value && <p>Connect your wallet above, then choose your role.</p>}
      <ul class="roles">
        {roles.map((r) => (
          <li key={r.to}>
            <a
              href={r.to}
              class="role"
              onClick={(e) => {
                if (e.ctrlKey || e.metaKey || e.shiftKey) return;
                e.preventDefault();
                navigate(r.to);
              }}
            >
              <strong>{r.name}</strong>
              <span>{r.text}</span>
            </a>
          </li>
        ))}
      </ul>
      <p class="small">
        Developers: the GraphQL API and its explorer are at <a href="/graphql">/graphql</a>.
      </p>
    </>
  );
}
