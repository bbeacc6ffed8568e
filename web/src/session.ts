/**
 * The one API client of the page (clients/js). Tokens live in memory and in
 * sessionStorage (so a reload keeps the login, a closed tab forgets it), never
 * in cookies: the API reads them only from the Authorization header.
 */
import { createClient, type MediaClient, type Tokens } from '../../clients/js/src/index';

const KEY = 'medialib.admin.session';

function stored(): Tokens | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const t: unknown = JSON.parse(raw);
    if (t && typeof t === 'object' && typeof (t as Tokens).access === 'string' && typeof (t as Tokens).refresh === 'string') {
      return { access: (t as Tokens).access, refresh: (t as Tokens).refresh };
    }
  } catch {
    // storage disabled or garbage: start logged out
  }
  return null;
}

function keep(s: Tokens | null): void {
  try {
    if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
    else sessionStorage.removeItem(KEY);
  } catch {
    // storage disabled: the login lasts as long as the page
  }
}

/** Forgets the kept tokens now (a reload while logout() waits for the server stays logged out). */
export function forgetStoredSession(): void {
  keep(null);
}

type Listener = (loggedIn: boolean) => void;
const listeners = new Set<Listener>();

/** Hears login and logout, including a refresh token the server refused. */
export function onSessionChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

const resumed = stored();

/** The API lives on the same origin as the page (/admin/ is served by medialib). */
export const client: MediaClient = createClient({
  baseUrl: location.origin,
  ...(resumed ? { session: resumed } : {}),
  onSession: (s) => {
    keep(s);
    for (const l of listeners) l(s !== null);
  },
});
