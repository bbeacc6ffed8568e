/**
 * File URLs. They always carry the media's version (`/media/{id}/v{n}/…`), so a
 * replaced file has a new URL at once and every URL can be cached forever.
 */
import type { Media, Transform } from './types.js';

/** What url() needs of a media: a whole Media, or just these fields. */
export type MediaRef = Pick<Media, 'id' | 'version' | 'filename'> & { url?: string };

/** Builds a transform segment from its parts (`{width: 480, format: 'webp'}` → `w_480,f_webp`). */
export function transformSegment(t: Transform): string {
  if (typeof t === 'string') return checkSegment(t);
  const parts: string[] = [];
  if (t.preset) parts.push(`t_${t.preset}`);
  if (t.width !== undefined) parts.push(`w_${positiveInt(t.width, 'width')}`);
  if (t.height !== undefined) parts.push(`h_${positiveInt(t.height, 'height')}`);
  if (t.crop) parts.push(`c_${t.crop}`);
  if (t.format) parts.push(`f_${t.format}`);
  if (t.quality !== undefined) parts.push(`q_${positiveInt(t.quality, 'quality')}`);
  return checkSegment(parts.join(','));
}

function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n <= 0) throw new TypeError(`transform ${what} must be a positive integer, got ${n}`);
  return n;
}

/** A transform is one path segment of URL-safe characters. */
function checkSegment(s: string): string {
  if (!/^[A-Za-z0-9_,.:-]+$/.test(s)) throw new TypeError(`not a transform segment: ${JSON.stringify(s)}`);
  return s;
}

/** `/media/{id}/v{version}/{filename}`, from the fields alone. */
function versionedPath(media: MediaRef): string {
  if (!Number.isInteger(media.id) || !Number.isInteger(media.version) || media.version < 1) {
    throw new TypeError('url() needs a media with an integer id and version');
  }
  return `/media/${media.id}/v${media.version}/${encodeURIComponent(media.filename)}`;
}

/**
 * The versioned URL of a media's file, or of a derived image when `transform`
 * is given (`/media/{id}/v{n}/{transform}/{filename}`). The server's own `url`
 * is used when the media has one (it honours MEDIALIB_PUBLIC_URL, a CDN in
 * front); otherwise the URL is built on `baseUrl`.
 */
export function mediaUrl(baseUrl: string, media: MediaRef, transform?: Transform): string {
  const own = typeof media.url === 'string' && /\/v\d+\/[^/]+$/.test(media.url) ? media.url : null;
  const full = own ?? `${baseUrl}${versionedPath(media)}`;
  if (transform === undefined) return full;
  const cut = full.lastIndexOf('/');
  return `${full.slice(0, cut)}/${transformSegment(transform)}${full.slice(cut)}`;
}
