// The on-demand parts (build.mjs `lazyEntries`), imported by URL at run time.
declare module 'lazy:qr-encode' {
  export { default } from '@paulmillr/qr';
}
declare module 'lazy:qr-decode' {
  export { default } from '@paulmillr/qr/decode.js';
}
