// Files the prescription pages hand over or read, in the browser only: the patient copy as a download, a
// chosen file's text.

/** Offers `text` as a file download (it never leaves the browser otherwise). */
export function download(name: string, text: string, type = 'application/json') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1_000);
}

/** A labelled file input handing the chosen file's text to `onText`. */
export function TextFile({ label, name, accept, onText, onError }: {
  label: string;
  name: string;
  accept: string;
  onText: (text: string) => void;
  onError: (message: string) => void;
}) {
  return (
    <label>
      {label}
      <input
        type="file"
        name={name}
        accept={accept}
        onChange={(e) => {
          const f = e.currentTarget.files?.[0];
          if (f) f.text().then(onText, (err: unknown) => onError(`The file could not be read: ${String(err)}`));
        }}
      />
    </label>
  );
}
