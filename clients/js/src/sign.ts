/**
 * Signed transform URLs (src/image/transform.h on the server). A free-form transform
 * (`w_640,f_webp`) is refused unless the server allows free-form transforms or the URL
 * carries a signature made with the server's signing key:
 *
 *   signature = base64url(HMAC-SHA256(key, canonical + "\n" + path))[first 16 bytes]
 *   URL       = /media/{id}/v{n}/s_{signature}/{canonical}/{filename}
 *
 * `canonical` is the transform's canonical form (url.ts) with presets expanded, and
 * `path` the versioned file path without transform and signature segments
 * (`/media/42/v3/photo.jpg`, the filename percent-encoded as the server writes it in
 * `media.url`). A signature is good for one transform of one version of one file.
 *
 * SERVER-SIDE ONLY: the key lets whoever holds it make the server render any variant.
 * Sign in Node, Deno, an edge function or your own back end, and send browsers only
 * the signed URLs. Never ship the key in a browser bundle.
 *
 * Uses WebCrypto (globalThis.crypto.subtle; on Node 18, where it is not global,
 * node:crypto's webcrypto), so signing is async.
 */
import type { TransformParts } from './types.js';
import { BUILTIN_PRESETS, canonicalTransform } from './url.js';

/** A signing key: the secret's text (UTF-8) or its bytes. */
export type SigningKey = string | Uint8Array | ArrayBuffer;

/** Options of signUrl(). */
export interface SignOptions {
  /** The server's preset table, when it was reconfigured (default: the built-in one). */
  presets?: Readonly<Record<string, TransformParts>>;
}

/** Bytes of an HMAC-SHA256 signature kept in the URL (22 base64url characters). */
export const SIGNATURE_BYTES = 16;

let subtlePromise: Promise<SubtleCrypto> | null = null;

/** WebCrypto's SubtleCrypto: the global one, or node:crypto's on Node 18. */
function subtle(): Promise<SubtleCrypto> {
  const g = (globalThis as { crypto?: Crypto }).crypto;
  if (g?.subtle) return Promise.resolve(g.subtle);
  // A computed specifier: bundlers for browsers must not try to resolve it.
  const mod = 'node:' + 'crypto';
  subtlePromise ??= import(/* webpackIgnore: true */ /* @vite-ignore */ mod).then(
    (m: { webcrypto?: { subtle?: SubtleCrypto } }) => {
      if (!m.webcrypto?.subtle) throw new Error('no WebCrypto available to sign URLs');
      return m.webcrypto.subtle;
    },
  );
  return subtlePromise;
}

/** The key's bytes, copied (WebCrypto wants a plain ArrayBuffer behind them). */
function keyBytes(key: SigningKey): Uint8Array<ArrayBuffer> {
  if (typeof key === 'string') return new TextEncoder().encode(key);
  if (key instanceof ArrayBuffer) return new Uint8Array(key.slice(0));
  if (ArrayBuffer.isView(key)) {
    const out = new Uint8Array(key.byteLength);
    out.set(new Uint8Array(key.buffer, key.byteOffset, key.byteLength));
    return out;
  }
  throw new TypeError('the signing key must be a string, a Uint8Array or an ArrayBuffer');
}

/** base64url without padding. */
function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The signature (22 characters) of `canonical` for the file at `path`
 * (`/media/42/v3/photo.jpg`). The low-level step of signUrl().
 */
export async function signature(key: SigningKey, canonical: string, path: string): Promise<string> {
  const raw = keyBytes(key);
  if (raw.length === 0) throw new TypeError('the signing key is empty');
  const s = await subtle();
  const k = await s.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await s.sign('HMAC', k, new TextEncoder().encode(`${canonical}\n${path}`)));
  return base64url(mac.subarray(0, SIGNATURE_BYTES));
}

/** `…/media/{id}/v{n}/[s_…/]{transform}/{filename}[?…][#…]`. */
const TRANSFORMED = /^(.*)\/media\/(\d+)\/v(\d+)\/(?:s_[^/]*\/)?([^/?#]+)\/([^/?#]+)([?#].*)?$/;

/**
 * Signs a transform URL, as url() returns it (`…/media/42/v3/w_640,f_webp/photo.jpg`,
 * absolute or a path): returns the URL with the transform in canonical form and the
 * `s_<signature>` segment before it. A signature already present is replaced. A URL
 * without a transform segment is a TypeError (a plain file URL needs no signature).
 *
 * Server-side only: never ship `key` to browsers (see the top of this module).
 */
export async function signUrl(url: string, key: SigningKey, options: SignOptions = {}): Promise<string> {
  const m = TRANSFORMED.exec(url);
  if (!m) throw new TypeError(`not a transform URL of a media file: ${url}`);
  const [, prefix, id, version, segment, filename, rest] = m as unknown as [string, string, string, string, string, string, string | undefined];
  const canonical = canonicalTransform(segment, options.presets ?? BUILTIN_PRESETS);
  const path = `/media/${id}/v${version}/${filename}`;
  const sig = await signature(key, canonical, path);
  return `${prefix}/media/${id}/v${version}/s_${sig}/${canonical}/${filename}${rest ?? ''}`;
}
