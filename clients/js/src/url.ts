/**
 * File URLs. They always carry the media's version (`/media/{id}/v{n}/…`), so a
 * replaced file has a new URL at once and every URL can be cached forever.
 *
 * Transform segments follow the server's grammar (src/image/transform.h): `t_<preset>`
 * alone, or a comma-joined set of `w_<px>`, `h_<px>`, `c_<fit|fill|limit>`,
 * `f_<jpeg|png|webp|avif|auto>`, `q_<1-100>`, each key at most once. This module
 * writes them in the server's canonical form (keys sorted c, f, h, q, w; `c_fit`, the
 * default, left out), so that one variant always has one URL.
 */
import type { Media, Transform, TransformParts } from './types.js';

/** What url() needs of a media: a whole Media, or just these fields. */
export type MediaRef = Pick<Media, 'id' | 'version' | 'filename'> & { url?: string };

/** The largest width or height the server renders. */
export const TRANSFORM_DIM_MAX = 8192;
const SEGMENT_MAX = 256;
const CROPS = ['fit', 'fill', 'limit'] as const;
const FORMATS = ['jpeg', 'png', 'webp', 'avif', 'auto'] as const;

/**
 * The server's built-in presets (MEDIALIB presets can be reconfigured on the server;
 * pass your own table to signUrl() then).
 */
export const BUILTIN_PRESETS: Readonly<Record<string, TransformParts>> = Object.freeze({
  thumbnail: { width: 200, height: 200, crop: 'fill' },
  small: { width: 480 },
  medium: { width: 960 },
  large: { width: 1920 },
});

/** A parsed transform: a preset's name, or free-form parts. */
export type ParsedTransform = { preset: string } | { parts: TransformParts };

function bad(msg: string): never {
  throw new TypeError(`invalid transform: ${msg}`);
}

function checkInt(n: unknown, what: string, max: number): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) bad(`${what} must be an integer from 1 to ${max}, got ${String(n)}`);
  return n;
}

/** Checks free-form parts as the server does: ranges, known values, c_ needs a box. */
function checkParts(p: TransformParts): TransformParts {
  const out: TransformParts = {};
  if (p.width !== undefined) out.width = checkInt(p.width, 'width', TRANSFORM_DIM_MAX);
  if (p.height !== undefined) out.height = checkInt(p.height, 'height', TRANSFORM_DIM_MAX);
  if (p.quality !== undefined) out.quality = checkInt(p.quality, 'quality', 100);
  if (p.crop !== undefined) {
    if (!(CROPS as readonly string[]).includes(p.crop)) bad(`crop must be one of ${CROPS.join(', ')}`);
    if (out.width === undefined && out.height === undefined) bad('crop needs a width or a height');
    if (p.crop === 'fill' && (out.width === undefined || out.height === undefined)) bad('crop fill needs both width and height');
    out.crop = p.crop;
  }
  if (p.format !== undefined) {
    if (!(FORMATS as readonly string[]).includes(p.format)) bad(`format must be one of ${FORMATS.join(', ')}`);
    out.format = p.format;
  }
  if (Object.keys(out).length === 0) bad('no width, height, crop, format or quality');
  return out;
}

function checkPresetName(name: unknown): string {
  if (typeof name !== 'string' || !/^[a-z0-9_-]{1,32}$/.test(name)) bad(`preset name ${JSON.stringify(name)}`);
  return name;
}

/** A plain decimal as the server reads it: no sign, no leading zero. */
function decimal(v: string, what: string, max: number): number {
  if (!/^[1-9][0-9]{0,5}$/.test(v)) bad(`${what} "${v}" is not a plain decimal`);
  return checkInt(Number(v), what, max);
}

/** Parses a transform segment (`t_thumbnail`, `w_480,f_webp`) strictly, as the server does. */
export function parseTransform(segment: string): ParsedTransform {
  if (typeof segment !== 'string' || segment.length === 0 || segment.length > SEGMENT_MAX) bad(`segment of ${String(segment?.length)} characters`);
  const items = segment.split(',');
  if (items.length === 1 && segment.startsWith('t_')) return { preset: checkPresetName(segment.slice(2)) };
  const parts: TransformParts = {};
  const seen = new Set<string>();
  for (const item of items) {
    const m = /^([a-z])_(.+)$/.exec(item);
    if (!m) bad(`"${item}" in "${segment}"`);
    const [, key, value] = m as unknown as [string, string, string];
    if (seen.has(key)) bad(`key ${key}_ given twice`);
    seen.add(key);
    switch (key) {
      case 'w': parts.width = decimal(value, 'width', TRANSFORM_DIM_MAX); break;
      case 'h': parts.height = decimal(value, 'height', TRANSFORM_DIM_MAX); break;
      case 'q': parts.quality = decimal(value, 'quality', 100); break;
      case 'c': parts.crop = value as TransformParts['crop'] & string; break;
      case 'f': parts.format = value as TransformParts['format'] & string; break;
      case 't': bad('t_ cannot be combined with anything');
      default: bad(`unknown key ${key}_`);
    }
  }
  return { parts: checkParts(parts) };
}

/** The server's canonical form of free-form parts: keys c, f, h, q, w; no c_fit. */
export function canonicalParts(p: TransformParts): string {
  const c = checkParts(p);
  const out: string[] = [];
  if (c.crop !== undefined && c.crop !== 'fit') out.push(`c_${c.crop}`);
  if (c.format !== undefined) out.push(`f_${c.format}`);
  if (c.height !== undefined) out.push(`h_${c.height}`);
  if (c.quality !== undefined) out.push(`q_${c.quality}`);
  if (c.width !== undefined) out.push(`w_${c.width}`);
  return out.join(',');
}

/** A Transform (string or object) as parsed parts or a preset name. */
function toParsed(t: Transform): ParsedTransform {
  if (typeof t === 'string') return parseTransform(t);
  if (t === null || typeof t !== 'object') bad(String(t));
  if ('preset' in t && t.preset !== undefined) {
    const others = Object.entries(t).filter(([k, v]) => k !== 'preset' && v !== undefined);
    if (others.length) bad('a preset cannot be combined with other parts');
    return { preset: checkPresetName(t.preset) };
  }
  return { parts: checkParts(t as TransformParts) };
}

/**
 * The URL segment of a transform: `t_<preset>` for a preset (`{preset: 'thumbnail'}`
 * or `'t_thumbnail'`), else the canonical free-form segment (`{width: 480, format:
 * 'webp'}` and `'w_480,f_webp'` both give `f_webp,w_480`). Throws a TypeError for
 * anything the server would refuse.
 */
export function transformSegment(t: Transform): string {
  const p = toParsed(t);
  return 'preset' in p ? `t_${p.preset}` : canonicalParts(p.parts);
}

/**
 * The canonical form a signature covers: presets expanded with `presets`
 * (the built-in table by default).
 */
export function canonicalTransform(t: Transform, presets: Readonly<Record<string, TransformParts>> = BUILTIN_PRESETS): string {
  const p = toParsed(t);
  if ('parts' in p) return canonicalParts(p.parts);
  const def = Object.prototype.hasOwnProperty.call(presets, p.preset) ? presets[p.preset] : undefined;
  if (!def) bad(`unknown preset "${p.preset}" (pass the server's presets)`);
  return canonicalParts(def);
}

/** Percent-encodes a path segment exactly as the server does (RFC 3986 unreserved kept). */
export function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `/media/{id}/v{version}/{filename}`, from the fields alone. */
function versionedPath(media: MediaRef): string {
  if (!Number.isInteger(media.id) || !Number.isInteger(media.version) || media.version < 1) {
    throw new TypeError('url() needs a media with an integer id and version');
  }
  return `/media/${media.id}/v${media.version}/${encodeSegment(media.filename)}`;
}

/** A versioned file URL without a transform: `…/media/{id}/v{n}/{filename}`. */
const VERSIONED = /\/media\/\d+\/v\d+\/[^/?#]+(?:[?#].*)?$/;

/**
 * The versioned URL of a media's file, or of a derived image when `transform` is
 * given (`/media/{id}/v{n}/{transform}/{filename}`). The server's own `url` is used
 * when the media has one (it honours MEDIALIB_PUBLIC_URL, a CDN in front); otherwise
 * the URL is built on `baseUrl`.
 */
export function mediaUrl(baseUrl: string, media: MediaRef, transform?: Transform): string {
  const own = typeof media.url === 'string' && VERSIONED.test(media.url) ? media.url : null;
  const full = own ?? `${baseUrl}${versionedPath(media)}`;
  if (transform === undefined) return full;
  const segment = transformSegment(transform);
  const tail = full.search(/[?#]/);
  const path = tail < 0 ? full : full.slice(0, tail);
  const rest = tail < 0 ? '' : full.slice(tail);
  const cut = path.lastIndexOf('/');
  return `${path.slice(0, cut)}/${segment}${path.slice(cut)}${rest}`;
}
