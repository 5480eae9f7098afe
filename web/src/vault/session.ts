// The vault session: Sign-In with Ethereum (EIP-4361 message built with viem's siwe utilities, signed by
// the connected wallet with personal_sign), kept by the vault's HttpOnly cookie. The app remembers only
// whose session it is and until when (not the token), so it asks to sign in again when the account
// changes, when the session runs out, or when the vault answers 401.
import { computed, signal } from '@preact/signals';
import { getAddress } from 'viem';
import { createSiweMessage } from 'viem/siwe';
import type { AppConfig } from '../config';
import { explain, signText } from '../tx';
import { account } from '../wallet';
import { getNonce, login, logout, VaultRefusal, type Session } from './client';

const REMEMBER = 'medledger.vault.session';

function remembered(): Session | null {
  try {
    const s = JSON.parse(localStorage.getItem(REMEMBER) ?? 'null') as Session | null;
    return s && Date.parse(s.expiresAt) > Date.now() ? s : null;
  } catch {
    return null;
  }
}

export const session = signal<Session | null>(remembered());
/** Why the user must sign in (again), e.g. "Your vault session has expired: sign in again." */
export const sessionNotice = signal<string | null>(null);
export const signingIn = signal(false);

/** The session of the connected account, if any. */
export const signedIn = computed(() => {
  const s = session.value;
  const a = account.value;
  return s != null && a != null && s.address.toLowerCase() === a.toLowerCase() ? s : null;
});

let expiry: ReturnType<typeof setTimeout> | undefined;

function keep(s: Session | null, notice: string | null = null) {
  clearTimeout(expiry);
  session.value = s;
  sessionNotice.value = notice;
  if (s) {
    localStorage.setItem(REMEMBER, JSON.stringify(s));
    // setTimeout's limit is ~24.8 days; sessions last minutes.
    const left = Math.min(Date.parse(s.expiresAt) - Date.now(), 2 ** 31 - 1);
    expiry = setTimeout(() => keep(null, 'Your vault session has expired: sign in again.'), Math.max(0, left));
  } else {
    localStorage.removeItem(REMEMBER);
  }
}
if (session.value) keep(session.value);

/** Signs in as the connected account; returns an error sentence, or null when signed in. */
export async function signIn(config: AppConfig): Promise<string | null> {
  const a = account.value;
  if (!a) return 'Connect a wallet first.';
  signingIn.value = true;
  sessionNotice.value = null;
  try {
    const n = await getNonce();
    // The vault checks domain, URI and chain against its own configuration: a page served from elsewhere
    // could not use the signature, and the wallet shows the user which site asks.
    if (n.domain !== location.host) {
      return `The vault signs in users of ${n.domain}, but this page is at ${location.host}: open the app at ${n.uri}.`;
    }
    if (n.chainId !== config.chainId) return `The vault follows chain ${n.chainId}, the app chain ${config.chainId}: the server is misconfigured.`;
    const message = createSiweMessage({
      address: getAddress(a),
      chainId: n.chainId,
      domain: n.domain,
      uri: n.uri,
      nonce: n.nonce,
      version: '1',
      statement: 'Sign in to the medledger vault.',
      issuedAt: new Date(),
    });
    const signature = await signText(message);
    keep(await login(message, signature));
    return null;
  } catch (e) {
    return e instanceof VaultRefusal ? e.message : explain(e);
  } finally {
    signingIn.value = false;
  }
}

/** Ends the session at the vault (and forgets it here even if the vault cannot be reached). */
export async function signOut(): Promise<string | null> {
  try {
    await logout();
    keep(null);
    return null;
  } catch (e) {
    const ended = e instanceof VaultRefusal && e.signInAgain;
    keep(null);
    return ended ? null : e instanceof Error ? e.message : String(e);
  }
}

/** Runs a vault request; a 401 ends the session here and asks to sign in again. */
export async function withSession<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof VaultRefusal && e.signInAgain) keep(null, e.message);
    throw e;
  }
}
