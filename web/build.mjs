// Builds the web app into dist/: hashed assets under dist/assets/, index.html (the app) and graphiql.html
// (GraphiQL, bundled from npm: no CDN), and web-build.json (what was built, with each page's gzip size).
// `node build.mjs --watch` rebuilds on change. The server embeds dist/ when it has an index.html.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const watch = process.argv.includes('--watch');

// `import abi from 'abi:ConsentRegistry'`: the contract's ABI (core/abi/ once the restructure lands, else
// indexer/abi/), functions and errors only, without internalType: the app never decodes logs itself.
const abiPlugin = {
  name: 'abi',
  setup(build) {
    build.onResolve({ filter: /^abi:/ }, (args) => {
      const name = args.path.slice(4);
      const path = ['core/abi', 'indexer/abi']
        .map((d) => join(here, '..', d, `${name}.json`))
        .find((p) => existsSync(p));
      if (!path) return { errors: [{ text: `no ABI for ${name} in core/abi or indexer/abi` }] };
      return { path, namespace: 'abi' };
    });
    build.onLoad({ filter: /.*/, namespace: 'abi' }, (args) => {
      const raw = JSON.parse(readFileSync(args.path, 'utf8'));
      const strip = (p) => {
        const { internalType: _, ...rest } = p;
        return rest.components ? { ...rest, components: rest.components.map(strip) } : rest;
      };
      const abi = (Array.isArray(raw) ? raw : raw.abi)
        .filter((e) => e.type === 'function' || e.type === 'error')
        .map((e) => ({ ...e, inputs: (e.inputs ?? []).map(strip), ...(e.outputs ? { outputs: e.outputs.map(strip) } : {}) }));
      return { contents: `export default ${JSON.stringify(abi)};`, loader: 'js', watchFiles: [args.path] };
    });
  },
};

// `import table from 'rx:controlled-substances'`: the bundled controlled-substance table the Rust side uses
// (core/data/controlled_substances.tsv, core/src/schedule.rs), parsed the same way at build time:
// `{ version, drugs: { rxcui: [schedule, name] } }`. One table, so the browser and `medledger rx` agree.
const scheduleTablePlugin = {
  name: 'controlled-substances',
  setup(build) {
    build.onResolve({ filter: /^rx:controlled-substances$/ }, () => ({
      path: join(here, '..', 'core', 'data', 'controlled_substances.tsv'),
      namespace: 'schedule-table',
    }));
    build.onLoad({ filter: /.*/, namespace: 'schedule-table' }, (args) => {
      let version = '';
      const drugs = {};
      for (const line of readFileSync(args.path, 'utf8').split('\n')) {
        if (line.startsWith('# version\t')) {
          version = line.slice('# version\t'.length).trim();
          continue;
        }
        if (line.startsWith('#') || !line.trim()) continue;
        const [code, schedule, name] = line.split('\t');
        if (code && name !== undefined && /^\d+$/.test(schedule)) drugs[code] = [Number(schedule), name];
      }
      if (!version) return { errors: [{ text: `${args.path} has no "# version" line` }] };
      return { contents: `export default ${JSON.stringify({ version, drugs })};`, loader: 'js', watchFiles: [args.path] };
    });
  },
};

// `import('lazy:qr-decode')`: a part only some pages need, on demand (the QR code encoder and decoder), built
// first as its own file (src/lazy/*.ts) and loaded by URL, so the app stays one file and these stay out of it.
const lazyEntries = { 'qr-encode': join(here, 'src/lazy/qr-encode.ts'), 'qr-decode': join(here, 'src/lazy/qr-decode.ts') };
const lazyFiles = {};
const lazyPlugin = {
  name: 'lazy',
  setup(build) {
    build.onResolve({ filter: /^lazy:/ }, (args) => {
      const file = lazyFiles[args.path.slice(5)];
      if (!file) return { errors: [{ text: `no on-demand part ${args.path}: add it to lazyEntries in build.mjs` }] };
      return { path: `/${file}`, external: true };
    });
  },
};

const common = {
  absWorkingDir: here,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  outdir: join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
};

const lazyBuild = { ...common, splitting: false, entryPoints: lazyEntries };

const builds = {
  app: { ...common, splitting: false, entryPoints: { app: join(here, 'src/main.tsx') }, jsx: 'automatic', jsxImportSource: 'preact', plugins: [abiPlugin, scheduleTablePlugin, lazyPlugin] },
  graphiql: { ...common, splitting: true, entryPoints: { graphiql: join(here, 'src/graphiql/main.tsx') }, jsx: 'automatic', jsxImportSource: 'react', loader: { '.graphql': 'text', '.woff2': 'file', '.woff': 'file', '.ttf': 'file', '.svg': 'file' } },
};

function page(title, js, css) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
<link rel="icon" href="data:,">
${css.map((c) => `<link rel="stylesheet" href="/${c}">`).join('\n')}
<script type="module" src="/${js}"></script>
</head>
<body>
<div id="root"></div>
<noscript>This page needs JavaScript.</noscript>
</body>
</html>
`;
}

const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;

// The files one page loads: its entry, the chunks it imports statically (transitively), their CSS.
function closure(meta, out, seen = new Set()) {
  if (seen.has(out)) return seen;
  seen.add(out);
  const o = meta.outputs[out];
  for (const i of o.imports) if (i.kind === 'import-statement' && meta.outputs[i.path]) closure(meta, i.path, seen);
  if (o.cssBundle) seen.add(o.cssBundle);
  return seen;
}

function write(results) {
  const rel = (p) => relative(dist, join(here, p));
  const outputs = {};
  for (const [name, r] of Object.entries(results)) outputs[name] = r.metafile;
  const entryOf = (meta, entry) => Object.keys(meta.outputs).find((o) => meta.outputs[o].entryPoint === entry && o.endsWith('.js'));
  const appMeta = outputs.app;
  const appJs = entryOf(appMeta, relative(here, join(here, 'src/main.tsx')));
  const appCss = [...closure(appMeta, appJs)].filter((f) => f.endsWith('.css'));
  writeFileSync(join(dist, 'index.html'), page('medledger', rel(appJs), appCss.map(rel)));
  const giMeta = outputs.graphiql;
  const giJs = entryOf(giMeta, relative(here, join(here, 'src/graphiql/main.tsx')));
  const giCss = [...closure(giMeta, giJs)].filter((f) => f.endsWith('.css'));
  writeFileSync(join(dist, 'graphiql.html'), page('GraphiQL · medledger', rel(giJs), giCss.map(rel)));

  // Each page of the app loads the one app bundle (its pages are small: one file beats a chunk per page).
  const size = (files) => {
    const js = [...files].filter((f) => f.endsWith('.js')).reduce((n, f) => n + gz(rel(f)), 0);
    const css = [...files].filter((f) => f.endsWith('.css')).reduce((n, f) => n + gz(rel(f)), 0);
    return { jsGzip: js, cssGzip: css, files: [...files].map(rel).sort() };
  };
  const pages = { app: size(closure(appMeta, appJs)) };
  pages.graphiql = size(closure(giMeta, giJs));
  const lazy = Object.fromEntries(Object.entries(lazyFiles).map(([name, file]) => [name, { file, jsGzip: gz(file) }]));
  const files = readdirSync(join(dist, 'assets')).map((f) => `assets/${f}`).sort();
  const id = createHash('sha256');
  for (const f of files) id.update(f);
  const build = { placeholder: false, id: id.digest('hex').slice(0, 16), files, pages, lazy };
  writeFileSync(join(dist, 'web-build.json'), JSON.stringify(build, null, 1) + '\n');
  return build;
}

function clean() {
  mkdirSync(dist, { recursive: true });
  for (const f of readdirSync(dist)) if (f !== '.gitkeep') rmSync(join(dist, f), { recursive: true, force: true });
}

/** Builds the on-demand parts and records their hashed file names for the app's `lazy:` imports. */
async function buildLazy() {
  const r = await esbuild.build(lazyBuild);
  for (const [out, o] of Object.entries(r.metafile.outputs)) {
    const name = Object.keys(lazyEntries).find((n) => o.entryPoint && join(here, o.entryPoint) === lazyEntries[n]);
    if (name) lazyFiles[name] = relative(dist, join(here, out));
  }
}

if (watch) {
  clean();
  await buildLazy();
  const results = {};
  for (const [name, options] of Object.entries(builds)) {
    const ctx = await esbuild.context({
      ...options,
      plugins: [...(options.plugins ?? []), { name: 'pages', setup(b) { b.onEnd((r) => { if (r.errors.length) return; results[name] = r; if (Object.keys(results).length === 2) { write(results); console.log(`built ${new Date().toISOString()}`); } }); } }],
    });
    await ctx.watch();
  }
} else {
  clean();
  const started = performance.now();
  await buildLazy();
  const results = {};
  for (const [name, options] of Object.entries(builds)) results[name] = await esbuild.build(options);
  if (process.argv.includes('--analyze')) console.log(await esbuild.analyzeMetafile(results.app.metafile));
  const build = write(results);
  for (const [name, p] of Object.entries(build.pages)) {
    console.log(`${name.padEnd(10)} js ${(p.jsGzip / 1024).toFixed(1).padStart(6)} KiB gzip  css ${(p.cssGzip / 1024).toFixed(1).padStart(5)} KiB gzip`);
  }
  for (const [name, p] of Object.entries(build.lazy)) console.log(`${name.padEnd(10)} js ${(p.jsGzip / 1024).toFixed(1).padStart(6)} KiB gzip  (on demand)`);
  console.log(`web: built dist/ in ${Math.round(performance.now() - started)} ms (id ${build.id})`);
}
