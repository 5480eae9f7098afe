// On demand (build.mjs `lazy:qr-decode`): the QR code decoder, loaded when the pharmacy starts the camera.
export { default } from '@paulmillr/qr/decode.js';
