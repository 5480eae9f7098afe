// Document types: the LOINC document codes the vault stores as `type` (the demo's, and the common ones a
// patient files herself), with their titles; the content types the vault accepts by default
// (vault/src/config.rs DEFAULT_CONTENT_TYPES), by file extension as `medledger records put` infers them.

export const DOCUMENT_TYPES: { code: string; title: string }[] = [
  { code: '34117-2', title: 'History and physical note' },
  { code: '11506-3', title: 'Progress note' },
  { code: '11488-4', title: 'Consultation note' },
  { code: '11502-2', title: 'Laboratory report' },
  { code: '18748-4', title: 'Imaging report' },
  { code: '48765-2', title: 'Allergies' },
  { code: '10160-0', title: 'Medication history' },
  { code: '11369-6', title: 'Immunization history' },
  { code: '18842-5', title: 'Discharge summary' },
  { code: '51855-5', title: "Patient's own note" },
];

/** A document's title from its type code (the code itself when unknown). */
export function typeTitle(code: string): string {
  return DOCUMENT_TYPES.find((t) => t.code === code)?.title ?? code;
}

const BY_EXTENSION: Record<string, string> = {
  pdf: 'application/pdf',
  json: 'application/json',
  md: 'text/markdown',
  markdown: 'text/markdown',
  txt: 'text/plain',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  dcm: 'application/dicom',
};

/** The `accept` attribute of the file picker. */
export const ACCEPT = Object.keys(BY_EXTENSION).map((e) => `.${e}`).join(',');

/** A file's content type: the browser's, else from its extension, else `application/octet-stream` (which the vault refuses with a sentence). */
export function contentTypeOf(file: File): string {
  const ext = file.name.split('.').pop()?.toLowerCase() ?? '';
  return BY_EXTENSION[ext] ?? (file.type || 'application/octet-stream');
}

/** A file name for a downloaded document. */
export function fileName(type: string, id: string, contentType: string): string {
  const ext = Object.entries(BY_EXTENSION).find(([, t]) => t === contentType)?.[0] ?? 'bin';
  return `${typeTitle(type).replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()}-${id.slice(0, 8)}.${ext}`;
}
