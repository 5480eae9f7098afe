// The bundled controlled-substance table, parsed at build time from core/data/controlled_substances.tsv.
declare module 'rx:controlled-substances' {
  const table: { version: string; drugs: Record<string, [number, string]> };
  export default table;
}
