// Scanning the patient's QR code with the device camera: getUserMedia, a frame every 150 ms into a canvas,
// decoded by a QR decoder loaded only when scanning starts. Every frame stays in the browser.
import { useEffect, useRef, useState } from 'preact/hooks';

const FRAME_MS = 150;

function cameraError(e: unknown): string {
  const name = (e as { name?: string })?.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') return 'The camera was not allowed: allow this site to use it in the browser, or paste the code instead.';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'No camera was found on this device: paste the code or load the patient copy instead.';
  if (name === 'NotReadableError') return 'The camera is busy in another application: close it there and try again.';
  return `The camera could not start: ${(e as Error)?.message ?? String(e)}`;
}

export function Scanner({ onCode }: { onCode: (text: string) => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<'starting' | 'scanning' | 'error'>('starting');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stream: MediaStream | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const stop = () => {
      stopped = true;
      clearTimeout(timer);
      stream?.getTracks().forEach((t) => t.stop());
    };
    (async () => {
      if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error('this browser (or a page not served over https) offers no camera'), { name: 'Unsupported' });
      const [{ default: decodeQR }, media] = await Promise.all([
        import('lazy:qr-decode'),
        navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false }),
      ]);
      stream = media;
      if (stopped) return stop();
      const v = video.current!;
      v.srcObject = media;
      await v.play();
      setState('scanning');
      const canvas = document.createElement('canvas');
      const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
      const tick = () => {
        if (stopped) return;
        if (v.videoWidth && v.videoHeight) {
          canvas.width = v.videoWidth;
          canvas.height = v.videoHeight;
          ctx.drawImage(v, 0, 0);
          const frame = ctx.getImageData(0, 0, canvas.width, canvas.height);
          try {
            const text = decodeQR({ width: frame.width, height: frame.height, data: frame.data });
            if (text) {
              stop();
              onCode(text);
              return;
            }
          } catch {
            /* no QR code in this frame */
          }
        }
        timer = setTimeout(tick, FRAME_MS);
      };
      tick();
    })().catch((e: unknown) => {
      stop();
      setState('error');
      setError(cameraError(e));
    });
    return stop;
  }, []);

  return (
    <div class="scanner">
      <video ref={video} muted playsInline aria-label="Camera view: hold the patient's QR code in front of the camera" />
      <p role="status" data-scan={state}>
        {state === 'starting' ? 'Starting the camera…' : state === 'scanning' ? 'Looking for a QR code…' : ''}
      </p>
      {error && <p role="alert">{error}</p>}
    </div>
  );
}
