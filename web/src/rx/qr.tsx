// A prescription code as a QR code (the encoder is loaded on first use) with the code as text to copy.
import { useEffect, useState } from 'preact/hooks';

/** The dark modules of `text`'s QR code as one SVG path, with the code's size in modules (quiet zone included). */
export async function qrPath(text: string): Promise<{ d: string; size: number }> {
  const { default: encodeQR } = await import('lazy:qr-encode');
  const rows = encodeQR(text, 'raw', { ecc: 'medium', border: 4 });
  let d = '';
  rows.forEach((row, y) => {
    row.forEach((dark, x) => {
      if (dark) d += `M${x} ${y}h1v1h-1z`;
    });
  });
  return { d, size: rows.length };
}

export function Qr({ code, label }: { code: string; label: string }) {
  const [path, setPath] = useState<{ d: string; size: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    let live = true;
    setPath(null);
    qrPath(code).then(
      (p) => live && setPath(p),
      (e: unknown) => live && setError(`The QR code could not be drawn: ${String(e)}`),
    );
    return () => {
      live = false;
    };
  }, [code]);
  return (
    <div class="qr">
      {error ? (
        <p role="alert">{error}</p>
      ) : path ? (
        <svg viewBox={`0 0 ${path.size} ${path.size}`} role="img" aria-label={label} data-code={code} shape-rendering="crispEdges">
          <rect width={path.size} height={path.size} fill="#fff" />
          <path d={path.d} fill="#000" />
        </svg>
      ) : (
        <p aria-busy="true">Drawing the QR code…</p>
      )}
      <label>
        The code as text ({code.length} characters)
        <textarea readOnly rows={4} value={code} name="code" spellcheck={false} />
      </label>
      <button type="button" onClick={() => navigator.clipboard.writeText(code).then(() => setCopied(true), () => setCopied(false))}>
        Copy the code
      </button>
      <span role="status">{copied ? ' Copied.' : ''}</span>
    </div>
  );
}
