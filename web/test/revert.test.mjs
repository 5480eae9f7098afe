// The contracts' custom errors in sentences (web/src/revert.ts, a hand copy of the CLI's src/rx/revert.rs):
// every error of every ABI the web app decodes has its own sentence, built from the error's own argument
// names, and where the CLI says an error in its own words the web app says it in the same words. No browser.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as esbuild from 'esbuild';
import { abi } from './support/harness.mjs';
import { root } from './support/stack.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'medledger-revert-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The contracts whose ABIs the web app decodes reverts with: its `import … from 'abi:<Name>'` lines. */
const contracts = [...readFileSync(join(root, 'web/src/tx.ts'), 'utf8').matchAll(/from 'abi:(\w+)'/g)].map((m) => m[1]);

/** Every custom error of those ABIs: [contract, error]. */
const errors = contracts.flatMap((c) => abi(c).filter((x) => x.type === 'error').map((e) => [c, e]));

/** A value of a Solidity type, distinct per argument so a sentence showing the wrong one is seen. */
function sample(type, i) {
  if (type === 'address') return `0x${String(i + 1).repeat(40).slice(0, 40)}`;
  if (type === 'bytes32') return `0x${String.fromCharCode(97 + (i % 6)).repeat(64)}`;
  if (type === 'bool') return true;
  if (type === 'string') return `text${i}`;
  if (/^u?int/.test(type)) return BigInt(2 + i);
  if (type.startsWith('bytes')) return '0x1234';
  throw new Error(`no sample for ${type}`);
}
const argsOf = (e) => Object.fromEntries(e.inputs.map((x, i) => [x.name || String(i), sample(x.type, i)]));

/**
 * The CLI's sentences: each `<Alias>::<Error>(e) => …` arm of src/rx/revert.rs with the literal pieces of its
 * first string (the text between `{…}` placeholders), or none for a catch-all arm.
 */
/** The body of `pub fn <name>` in core/src/schedule.rs. */
function coreFunction(name) {
  const src = readFileSync(join(root, 'core/src/schedule.rs'), 'utf8');
  const at = src.indexOf(`pub fn ${name}(`);
  assert.ok(at >= 0, `core/src/schedule.rs has no pub fn ${name}`);
  return src.slice(at, src.indexOf('\n}\n', at));
}

function cliSentences() {
  const src = readFileSync(join(root, 'src/rx/revert.rs'), 'utf8');
  const aliases = Object.fromEntries([...src.matchAll(/(\w+)::(\w+)Errors as (\w+)/g)].map((m) => [m[3], m[1]]));
  // An arm's head: one pattern or several joined by `|`.
  const arms = [...src.matchAll(/\b\w+::\w+\([^)]*\)(?:\s*\|\s*\w+::\w+\([^)]*\))*\s*=>/g)];
  const out = new Map();
  arms.forEach((arm, k) => {
    const body = src.slice(arm.index + arm[0].length, arms[k + 1]?.index ?? src.length);
    // An arm that calls a sentence shared with the off-chain check (`schedule::<fn>(…)`, in
    // core/src/schedule.rs) is compared with that function's format string.
    const shared = body.match(/^\s*\{?\s*schedule::(\w+)\(/);
    const from = shared ? coreFunction(shared[1]) : body;
    const lit = from.match(/"((?:[^"\\]|\\.)*)"/s);
    const text = lit[1].replace(/\\\n\s*/g, '').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    const pieces = text
      .split(/\{[^{}]*\}/)
      .map((p) => p.replace(/\{\{/g, '{').replace(/\}\}/g, '}'))
      .filter((p) => p.length > 0);
    for (const m of arm[0].matchAll(/(\w+)::(\w+)\(/g)) if (aliases[m[1]]) out.set(`${aliases[m[1]]}.${m[2]}`, pieces);
  });
  return out;
}

describe('revert sentences', () => {
  let explainError;
  before(async () => {
    const outfile = join(tmp, 'revert.mjs');
    await esbuild.build({ entryPoints: [join(root, 'web/src/revert.ts')], bundle: true, format: 'esm', platform: 'node', outfile, logLevel: 'warning' });
    ({ explainError } = await import(pathToFileURL(outfile).href));
  });

  test('the web app decodes the four contracts, whose ABIs declare custom errors', () => {
    assert.deepEqual(contracts.sort(), ['ConsentRegistry', 'CredentialRegistry', 'Prescriptions', 'RecordAnchors']);
    for (const c of contracts) assert.ok(errors.some(([x]) => x === c), `${c} declares errors`);
  });

  test("every custom error of those ABIs has its own sentence in web/src/revert.ts, using the error's argument names", () => {
    const missing = [];
    const badArgs = [];
    for (const [c, e] of errors) {
      const args = argsOf(e);
      const s = explainError(e.name, args);
      if (s.startsWith('the contract refused:')) missing.push(`${c}.${e.name}`);
      else if (/undefined|NaN/.test(s)) badArgs.push(`${c}.${e.name}: ${s}`);
      else {
        // Every address the error carries is shown (the offending accounts).
        for (const [name, v] of Object.entries(args)) {
          if (typeof v === 'string' && v.length === 42 && v.startsWith('0x') && !s.includes(v)) badArgs.push(`${c}.${e.name}: ${name} not shown in "${s}"`);
        }
      }
    }
    assert.deepEqual(missing, [], 'errors without a sentence (add them to web/src/revert.ts, in the CLI’s words where it has them)');
    assert.deepEqual(badArgs, [], 'sentences that read an argument the error does not have');
  });

  test('src/rx/revert.rs names the same Prescriptions, CredentialRegistry and ConsentRegistry errors as the ABIs, and the web app says them in the same words', () => {
    const cli = cliSentences();
    for (const contract of ['Prescriptions', 'CredentialRegistry', 'ConsentRegistry']) {
      const abiErrors = errors.filter(([c]) => c === contract).map(([, e]) => e.name);
      const cliErrors = [...cli.keys()].filter((k) => k.startsWith(`${contract}.`)).map((k) => k.slice(contract.length + 1));
      assert.deepEqual([...new Set(cliErrors)].sort(), [...new Set(abiErrors)].sort(), `the CLI explains exactly the ABI’s ${contract} errors`);
    }
    const differ = [];
    for (const [c, e] of errors) {
      const pieces = cli.get(`${c}.${e.name}`);
      if (!pieces) continue;
      const s = explainError(e.name, argsOf(e));
      let at = 0;
      for (const p of pieces) {
        const i = s.indexOf(p, at);
        if (i < 0) {
          differ.push(`${c}.${e.name}: the CLI says "${pieces.join('…')}", the web app "${s}"`);
          break;
        }
        at = i + p.length;
      }
    }
    assert.deepEqual(differ, [], 'sentences that differ from the CLI’s');
  });
});
