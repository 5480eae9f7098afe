// The DEA schedule of an RxNorm code from the bundled controlled-substance table — the same file and the same
// sentences as core/src/schedule.rs: the chain cannot see the drug, so the prescriber's form refuses a declared
// schedule that differs from the table's and the pharmacy's verification reports it (issue 19, point 1).
import table from 'rx:controlled-substances';
import { scheduleName } from '../revert';

/** The table's version, named in every verdict. */
export const tableVersion = table.version;

/** The schedule (2..5) and the table's drug name of an RxNorm code; null when unlisted (not controlled). */
export function scheduleOf(rxcui: string): { schedule: number; name: string } | null {
  const hit = Object.prototype.hasOwnProperty.call(table.drugs, rxcui) ? table.drugs[rxcui] : undefined;
  return hit ? { schedule: hit[0], name: hit[1] } : null;
}

/** null when `declared` is the table's schedule for `rxcui`, else the reason in a sentence. */
export function checkDeclared(rxcui: string, declared: number): string | null {
  const listed = scheduleOf(rxcui);
  const expected = listed?.schedule ?? 0;
  if (expected === declared) return null;
  const what = listed ? `RxNorm ${rxcui} (${listed.name})` : `RxNorm ${rxcui}`;
  return `${what} is ${scheduleName(expected)} in the controlled-substance table ${tableVersion}, but the prescription declares it ${scheduleName(declared)}`;
}
