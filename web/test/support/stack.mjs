// The real stack for browser tests: `target/debug/medledger dev` (anvil, a throwaway PostgreSQL, the
// contracts with the demo story, the indexer, the API and the embedded web app) on free ports; its banner
// gives the URLs and the demo accounts.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * Starts `medledger dev` (logging at `rustLog`, default $RUST_LOG or warn; `args`: more of its options) and
 * resolves once it printed "medledger dev is ready".
 */
export async function startStack({ timeoutMs = 180_000, rustLog, args = [] } = {}) {
  const bin = process.env.MEDLEDGER_BIN ?? join(root, 'target', 'debug', 'medledger');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`cargo build --bin medledger\` first`);
  const env = { ...process.env, RUST_LOG: rustLog ?? process.env.RUST_LOG ?? 'warn', NO_COLOR: '1' };
  for (const k of Object.keys(env)) if (k.startsWith('MEDLEDGER_') || k === 'DATABASE_URL') delete env[k];
  const child = spawn(bin, ['dev', '--api.addr', '127.0.0.1:0', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = [];
  const err = [];
  createInterface({ input: child.stderr }).on('line', (l) => err.push(l));
  const stack = {
    child,
    url: '',
    rpc: '',
    chainId: 0,
    accounts: [],
    output: () => `${out.join('\n')}\n${err.slice(-40).join('\n')}`,
    /** Everything the server printed so far (banner and logs). */
    logs: () => `${out.join('\n')}\n${err.join('\n')}`,
  };
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`medledger dev not ready in ${timeoutMs} ms\n${stack.output()}`)), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`medledger dev exited with ${code}\n${stack.output()}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      out.push(line);
      const t = line.trim().split(/\s+/);
      if (t[0] === 'web' && t[1] === 'app') stack.url = t[2].replace(/\/$/, '');
      else if (t[0] === 'RPC') stack.rpc = t[1];
      else if (t[0] === 'chain' && t[1] === 'id') stack.chainId = Number(t[2]);
      else if (/^(registrar|prescriber|pharmacy|patient|relayer)$/.test(t[0]) && /^0x[0-9a-fA-F]{40}$/.test(t[1] ?? '')) {
        stack.accounts.push({ role: t[0], address: t[1], key: t[2], name: t.slice(3).join(' ').replace(/ \(.*$/, '') });
      } else if (line.startsWith('medledger dev is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  if (!stack.url || !stack.rpc) throw new Error(`banner without the web app or RPC URL\n${stack.output()}`);
  /** The demo account whose name starts with `name` ("Maria", "Dr. Amara"...). */
  stack.who = (name) => {
    const a = stack.accounts.find((x) => x.name.includes(name));
    if (!a) throw new Error(`no demo account named ${name}`);
    return a;
  };
  stack.stop = async () => {
    if (child.exitCode != null) return;
    child.removeAllListeners('exit');
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await once(child, 'exit');
    clearTimeout(timer);
  };
  return stack;
}
