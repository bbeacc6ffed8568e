/**
 * Request bodies for files: the multipart/form-data of an upload and the
 * Content-Disposition of a raw replace, both built by hand into a Blob so that
 * every transport (XMLHttpRequest, a counting stream, plain fetch) sends the
 * same bytes and knows their length before the first one goes out.
 */
import type { FileInput, UploadMetadata } from './types.js';

/** A file as a Blob, with the name and type to send it under. */
export interface NamedFile {
  blob: Blob;
  filename: string;
  contentType: string;
}

/** A Blob of any accepted input (bytes are copied once, into the Blob). */
function toBlob(file: FileInput): Blob {
  if (typeof Blob !== 'undefined' && file instanceof Blob) return file;
  if (file instanceof ArrayBuffer || ArrayBuffer.isView(file)) return new Blob([file as BlobPart]);
  throw new TypeError('file must be a Blob, a File, an ArrayBuffer or a Uint8Array');
}

/** A File's own name, when the input is one. */
function ownName(file: FileInput): string | undefined {
  const name = (file as { name?: unknown }).name;
  return typeof name === 'string' && name ? name : undefined;
}

/**
 * The file to send and its name: `filename` when given, else the File's own
 * name; a Blob or bytes without either is a TypeError (the server keeps the
 * name, and it ends every URL of the media).
 */
export function namedFile(file: FileInput, filename?: string, contentType?: string): NamedFile {
  const blob = toBlob(file);
  const name = filename || ownName(file);
  if (!name) throw new TypeError('a filename is needed: pass a File, or give filename in the metadata or options');
  return { blob, filename: name, contentType: contentType || blob.type || 'application/octet-stream' };
}

/** The ASCII stand-in of a filename for `filename="…"` (RFC 6266 appendix D). */
function asciiFallback(name: string): string {
  return name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
}

/** RFC 8187 percent-encoding for `filename*=UTF-8''…`. */
function extValue(name: string): string {
  return encodeURIComponent(name).replace(/['()*!]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `filename="…"; filename*=UTF-8''…`: the ASCII name for old parsers, the exact one for the server. */
export function filenameParams(name: string): string {
  return `filename="${asciiFallback(name)}"; filename*=UTF-8''${extValue(name)}`;
}

/** The Content-Disposition header of PUT /api/media/{id}/file. */
export function attachmentDisposition(name: string): string {
  return `attachment; ${filenameParams(name)}`;
}

/** A boundary that cannot occur by chance in the file (Node 18 may lack a global crypto). */
function newBoundary(): string {
  const bytes = new Uint8Array(16);
  if (globalThis.crypto?.getRandomValues) globalThis.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return `----medialib-client-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The text fields of an upload, in the order the API lists them. */
function metadataFields(meta: UploadMetadata): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const key of ['title', 'alt_text', 'caption', 'folder'] as const) {
    const v = meta[key];
    if (v !== undefined && v !== null) out.push([key, String(v)]);
  }
  const tags = meta.tags;
  if (Array.isArray(tags)) for (const t of tags) out.push(['tags', String(t)]);
  else if (typeof tags === 'string' && tags) out.push(['tags', tags]);
  return out;
}

/** A multipart body: the metadata fields, then the file last. */
export interface Multipart {
  body: Blob;
  contentType: string;
}

/** The multipart/form-data body of POST /api/media/. */
export function multipartUpload(file: NamedFile, meta: UploadMetadata): Multipart {
  const boundary = newBoundary();
  const parts: BlobPart[] = [];
  for (const [name, value] of metadataFields(meta)) {
    parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  }
  parts.push(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; ${filenameParams(file.filename)}\r\n` +
      `Content-Type: ${file.contentType}\r\n\r\n`,
    file.blob,
    `\r\n--${boundary}--\r\n`,
  );
  return { body: new Blob(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}
