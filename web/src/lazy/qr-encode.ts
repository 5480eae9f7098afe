// On demand (build.mjs `lazy:qr-encode`): the QR code encoder, for pages that show a prescription's code.
export { default } from '@paulmillr/qr';
