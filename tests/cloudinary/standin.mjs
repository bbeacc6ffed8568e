#!/usr/bin/env node
// Cloudinary stand-in: a local test double of Cloudinary's REST endpoints for
// medialib's Cloudinary blob store tests. It is NOT Cloudinary and does not
// pretend to be: the real service cannot be reached from the test machines,
// so this answers the documented upload, destroy, Admin API and delivery URLs
// closely enough for a client written from Cloudinary's public documentation
// to be exercised, plus /__standin/ control endpoints (failure injection,
// request log, clock skew) that Cloudinary has no equivalent of.
//
//   node tests/cloudinary/standin.mjs --dir DIR --port PORT --cloud CLOUD \
//        --key API_KEY --secret API_SECRET [--port-file FILE] [--max-body BYTES]
//
// It never transforms anything: a delivery URL with a transformation serves the
// original bytes and names the transformation in X-Standin-Transformation.
// Node 20 built-ins only. Listens on 127.0.0.1 only.
//
// State lives in DIR so that a stand-in killed (even with SIGKILL) and started
// again on the same DIR still has every asset it acknowledged:
//   DIR/assets/RT/H.json            one asset's metadata (H = sha256 of public_id)
//   DIR/assets/RT/H.VERSIONID.bin   its bytes
//   DIR/chunks/U/START-END.part     chunks of an unfinished chunked upload
//   DIR/tmp/                        temp files, renamed into place when complete
// The .json is the commit point: bytes are renamed into place first, then the
// metadata, so a crash leaves at worst an unreferenced .bin (removed at start).
// Nothing is fsynced: the stand-in guards against its own death, not the
// machine's, and tests upload many files.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const opts = { maxBody: 64 * 1024 * 1024, portFile: '' };
  const names = { '--dir': 'dir', '--port': 'port', '--cloud': 'cloud', '--key': 'key', '--secret': 'secret',
    '--port-file': 'portFile', '--max-body': 'maxBody' };
  for (let i = 0; i < argv.length; i++) {
    const name = names[argv[i]];
    if (!name || i + 1 >= argv.length) usage(`unknown or incomplete argument ${argv[i]}`);
    opts[name] = argv[++i];
  }
  for (const k of ['dir', 'port', 'cloud', 'key', 'secret']) if (!opts[k]) usage(`--${k} is required`);
  opts.port = Number(opts.port);
  opts.maxBody = Number(opts.maxBody);
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('bad --port');
  if (!Number.isInteger(opts.maxBody) || opts.maxBody <= 0) usage('bad --max-body');
  return opts;
}

function usage(msg) {
  process.stderr.write(`cloudinary stand-in: ${msg}\n` +
    'usage: standin.mjs --dir DIR --port PORT --cloud CLOUD --key API_KEY --secret API_SECRET ' +
    '[--port-file FILE] [--max-body BYTES]\n');
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
const RESOURCE_TYPES = new Set(['image', 'video', 'raw']);

// ---------------------------------------------------------------- small helpers

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const sha1 = (s) => crypto.createHash('sha1').update(s).digest('hex');
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const randomHex = (bytes) => crypto.randomBytes(bytes).toString('hex');

// The stand-in's idea of "now", in seconds; /__standin/clock skews it so that
// tests can make a correct client's timestamps look stale.
let clockSkew = 0;
const nowSeconds = () => Math.floor(Date.now() / 1000) + clockSkew;
const isoSeconds = (sec) => new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

// Cloudinary's random public ids are 20 lowercase letters and digits.
function randomPublicId() {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.randomBytes(20);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

const isFalse = (v) => v !== undefined && /^(false|0|no)$/i.test(v);
const isTrue = (v) => v !== undefined && /^(true|1|yes)$/i.test(v);

// Serialises the read-modify-write of one key (an asset, an upload id): Node
// runs one request at a time but awaits fs calls, so two overwrites of the
// same public_id could otherwise interleave and both claim the same version.
const locks = new Map();
async function withLock(key, fn) {
  const prev = locks.get(key) || Promise.resolve();
  let release;
  const mine = new Promise((r) => (release = r));
  const tail = prev.then(() => mine);
  locks.set(key, tail);
  await prev;
  try {
    return await fn();
  } finally {
    release();
    if (locks.get(key) === tail) locks.delete(key);
  }
}

// ---------------------------------------------------------------- content sniffing

// What the stored bytes are, from their first bytes only (as far as the
// stand-in cares): kind 'image' or 'video' (video includes audio, as on
// Cloudinary), the format Cloudinary would report, and a Content-Type.
function sniff(head) {
  const ascii = (a, b) => head.toString('latin1', a, b);
  const at = (...bytes) => bytes.every((b, i) => head[i] === b);
  if (at(0xff, 0xd8, 0xff)) return { kind: 'image', format: 'jpg', mime: 'image/jpeg' };
  if (at(0x89, 0x50, 0x4e, 0x47)) return { kind: 'image', format: 'png', mime: 'image/png' };
  if (ascii(0, 4) === 'GIF8') return { kind: 'image', format: 'gif', mime: 'image/gif' };
  if (ascii(0, 4) === 'RIFF') {
    const sub = ascii(8, 12);
    if (sub === 'WEBP') return { kind: 'image', format: 'webp', mime: 'image/webp' };
    if (sub === 'AVI ') return { kind: 'video', format: 'avi', mime: 'video/x-msvideo' };
    if (sub === 'WAVE') return { kind: 'video', format: 'wav', mime: 'audio/wav' };
    return { kind: 'video', format: undefined, mime: 'application/octet-stream' };
  }
  if (head.length >= 12 && ascii(4, 8) === 'ftyp') {
    // The major brand and the compatible brands decide between AVIF/HEIC
    // (images) and the MP4 family (video).
    const boxSize = Math.min(head.readUInt32BE(0), head.length);
    const brands = [ascii(8, 12)];
    for (let o = 16; o + 4 <= boxSize; o += 4) brands.push(ascii(o, o + 4));
    if (brands.includes('avif') || brands.includes('avis')) return { kind: 'image', format: 'avif', mime: 'image/avif' };
    if (brands.some((b) => ['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1'].includes(b)) &&
        !brands.some((b) => ['isom', 'mp41', 'mp42', 'qt  '].includes(b))) {
      return { kind: 'image', format: 'heic', mime: 'image/heic' };
    }
    const major = brands[0];
    if (major === 'qt  ') return { kind: 'video', format: 'mov', mime: 'video/quicktime' };
    if (major === 'M4A ' || major === 'M4B ') return { kind: 'video', format: 'm4a', mime: 'audio/mp4' };
    if (major.startsWith('3g')) return { kind: 'video', format: '3gp', mime: 'video/3gpp' };
    return { kind: 'video', format: 'mp4', mime: 'video/mp4' };
  }
  if (ascii(0, 2) === 'BM') return { kind: 'image', format: 'bmp', mime: 'image/bmp' };
  if (at(0x49, 0x49, 0x2a, 0x00) || at(0x4d, 0x4d, 0x00, 0x2a)) return { kind: 'image', format: 'tiff', mime: 'image/tiff' };
  if (at(0x00, 0x00, 0x01, 0x00)) return { kind: 'image', format: 'ico', mime: 'image/x-icon' };
  if (at(0x1a, 0x45, 0xdf, 0xa3)) {
    return head.includes('webm') ? { kind: 'video', format: 'webm', mime: 'video/webm' }
      : { kind: 'video', format: 'mkv', mime: 'video/x-matroska' };
  }
  if (ascii(0, 4) === 'OggS') return { kind: 'video', format: 'ogv', mime: 'video/ogg' };
  if (ascii(0, 4) === 'fLaC') return { kind: 'video', format: 'flac', mime: 'audio/flac' };
  if (ascii(0, 3) === 'ID3') return { kind: 'video', format: 'mp3', mime: 'audio/mpeg' };
  if (head[0] === 0xff && (head[1] & 0xe0) === 0xe0) {
    // MPEG audio frame sync; layer bits 00 are AAC in an ADTS stream.
    return ((head[1] >> 1) & 3) === 0 ? { kind: 'video', format: 'aac', mime: 'audio/aac' }
      : { kind: 'video', format: 'mp3', mime: 'audio/mpeg' };
  }
  // SVG is text: allow a BOM and leading white space before the first '<'.
  const text = head.toString('utf8').replace(/^\uFEFF?\s*/, '');
  if (text.startsWith('<') && text.includes('<svg')) return { kind: 'image', format: 'svg', mime: 'image/svg+xml' };
  if (ascii(0, 5) === '%PDF-') return { kind: null, format: undefined, mime: 'application/pdf' };
  return { kind: null, format: undefined, mime: 'application/octet-stream' };
}

const SNIFF_BYTES = 64 * 1024; // enough for an SVG's opening tags and an ftyp box

// ---------------------------------------------------------------- the store

const dirs = {
  assets: path.join(opts.dir, 'assets'),
  chunks: path.join(opts.dir, 'chunks'),
  tmp: path.join(opts.dir, 'tmp'),
};
const assets = new Map(); // `${rt}\0${public_id}` -> metadata
// The last version handed out per asset, kept after a destroy too, so that a
// destroy and re-upload within one second still gets a new version (and so a
// new delivery URL).
const lastVersion = new Map();
const assetKey = (rt, publicId) => `${rt}\0${publicId}`;
const assetFile = (rt, publicId) => path.join(dirs.assets, rt, sha256(publicId));

function tmpPath() {
  return path.join(dirs.tmp, `${process.pid}-${randomHex(8)}`);
}

async function writeFileAtomic(file, data) {
  const tmp = tmpPath();
  await fsp.writeFile(tmp, data);
  await fsp.rename(tmp, file);
}

async function loadStore() {
  for (const d of Object.values(dirs)) await fsp.mkdir(d, { recursive: true });
  for (const rt of RESOURCE_TYPES) await fsp.mkdir(path.join(dirs.assets, rt), { recursive: true });
  // Temp files belong to requests that died with the previous process.
  for (const f of await fsp.readdir(dirs.tmp)) await fsp.rm(path.join(dirs.tmp, f), { force: true, recursive: true });
  for (const rt of RESOURCE_TYPES) {
    const rtDir = path.join(dirs.assets, rt);
    const files = await fsp.readdir(rtDir);
    const referenced = new Set();
    for (const f of files.filter((f) => f.endsWith('.json'))) {
      const meta = JSON.parse(await fsp.readFile(path.join(rtDir, f), 'utf8'));
      assets.set(assetKey(rt, meta.public_id), meta);
      lastVersion.set(assetKey(rt, meta.public_id), meta.version);
      referenced.add(meta.blob);
    }
    // Bytes of an overwrite or destroy that was cut short.
    for (const f of files.filter((f) => f.endsWith('.bin') && !referenced.has(f))) {
      await fsp.rm(path.join(rtDir, f), { force: true });
    }
  }
}

// Reads a complete file once for what an upload answer needs: size, MD5 and
// the first bytes for sniffing.
async function describeFile(file) {
  const md5 = crypto.createHash('md5');
  let bytes = 0;
  const heads = [];
  let headLen = 0;
  for await (const chunk of fs.createReadStream(file)) {
    md5.update(chunk);
    bytes += chunk.length;
    if (headLen < SNIFF_BYTES) {
      heads.push(chunk.subarray(0, SNIFF_BYTES - headLen));
      headLen += heads[heads.length - 1].length;
    }
  }
  return { bytes, etag: md5.digest('hex'), head: Buffer.concat(heads) };
}

// Makes the file at tmp (which this function then owns) the new version of
// rt/publicId. Called with the asset's lock held.
async function commitAsset(rt, publicId, tmp, info, originalFilename) {
  const key = assetKey(rt, publicId);
  const prev = assets.get(key);
  const version = Math.max(nowSeconds(), (lastVersion.get(key) || 0) + 1);
  const versionId = randomHex(16);
  const base = assetFile(rt, publicId);
  const blob = `${path.basename(base)}.${versionId}.bin`;
  const meta = {
    asset_id: prev ? prev.asset_id : randomHex(16),
    public_id: publicId,
    resource_type: rt,
    type: 'upload',
    version,
    version_id: versionId,
    format: rt === 'raw' ? undefined : info.format,
    bytes: info.bytes,
    etag: info.etag,
    created_at: isoSeconds(version),
    content_type: info.mime,
    original_filename: originalFilename,
    blob,
  };
  await fsp.rename(tmp, path.join(dirs.assets, rt, blob));
  await writeFileAtomic(`${base}.json`, JSON.stringify(meta));
  assets.set(key, meta);
  lastVersion.set(key, version);
  if (prev) await fsp.rm(path.join(dirs.assets, rt, prev.blob), { force: true });
  return meta;
}

// Called with the asset's lock held.
async function removeAsset(rt, publicId) {
  const key = assetKey(rt, publicId);
  const meta = assets.get(key);
  if (!meta) return false;
  await fsp.rm(`${assetFile(rt, publicId)}.json`, { force: true });
  assets.delete(key);
  await fsp.rm(path.join(dirs.assets, rt, meta.blob), { force: true });
  return true;
}

function listAssets(rt, prefix) {
  const out = [];
  for (const meta of assets.values()) {
    if (meta.resource_type === rt && meta.public_id.startsWith(prefix)) out.push(meta);
  }
  return out.sort((a, b) => (a.public_id < b.public_id ? -1 : a.public_id > b.public_id ? 1 : 0));
}

// ---------------------------------------------------------------- JSON shapes

let baseUrl = ''; // http://127.0.0.1:PORT once listening

function encodePublicId(publicId) {
  return publicId.split('/').map(encodeURIComponent).join('/');
}

function deliveryUrl(meta) {
  const ext = meta.resource_type !== 'raw' && meta.format ? `.${meta.format}` : '';
  return `${baseUrl}/${opts.cloud}/${meta.resource_type}/upload/v${meta.version}/${encodePublicId(meta.public_id)}${ext}`;
}

// The fields the Admin API lists for an asset.
function resourceJson(meta) {
  const url = deliveryUrl(meta);
  const out = { asset_id: meta.asset_id, public_id: meta.public_id };
  if (meta.format) out.format = meta.format;
  Object.assign(out, {
    version: meta.version,
    resource_type: meta.resource_type,
    type: 'upload',
    created_at: meta.created_at,
    bytes: meta.bytes,
    etag: meta.etag,
    url,
    secure_url: url, // no TLS here: both are the same http URL
  });
  return out;
}

// The answer to an upload, including Cloudinary's response signature.
function uploadJson(meta) {
  const out = resourceJson(meta);
  return {
    asset_id: out.asset_id,
    public_id: meta.public_id,
    version: meta.version,
    version_id: meta.version_id,
    signature: sha1(`public_id=${meta.public_id}&version=${meta.version}${opts.secret}`),
    ...(meta.format ? { format: meta.format } : {}),
    resource_type: meta.resource_type,
    created_at: meta.created_at,
    tags: [],
    bytes: meta.bytes,
    type: 'upload',
    etag: meta.etag,
    placeholder: false,
    url: out.url,
    secure_url: out.secure_url,
    original_filename: meta.original_filename,
    api_key: opts.key,
  };
}

// ---------------------------------------------------------------- request bodies

async function readBody(req) {
  const declared = Number(req.headers['content-length']);
  if (declared > opts.maxBody) throw tooLarge();
  const parts = [];
  let len = 0;
  for await (const chunk of req) {
    len += chunk.length;
    if (len > opts.maxBody) throw tooLarge();
    parts.push(chunk);
  }
  return Buffer.concat(parts, len);
}

function tooLarge() {
  const e = new HttpError(413, `stand-in: request body larger than ${opts.maxBody} bytes; send it as a chunked upload`);
  e.closeConnection = true; // the rest of the body is not read
  return e;
}

// Parses a Content-Disposition parameter, quoted or not.
function dispositionParam(header, name) {
  const m = new RegExp(`(?:^|;)\\s*${name}=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i').exec(header);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
}

// multipart/form-data as browsers, curl and libcurl send it. Parts stay Buffers
// so file bytes survive untouched (CRLFs, NULs, boundary-like sequences).
function parseMultipart(body, boundary) {
  const bad = (why) => new HttpError(400, `stand-in: malformed multipart body (${why})`);
  const open = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  const parts = [];
  let pos = body.indexOf(open);
  if (pos < 0) throw bad('no boundary');
  for (;;) {
    pos += open.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break; // closing delimiter
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++; // transport padding
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) throw bad('no CRLF after a boundary');
    pos += 2;
    let headers = {};
    let dataStart;
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) {
      dataStart = pos + 2; // a part without headers
    } else {
      const headEnd = body.indexOf('\r\n\r\n', pos);
      if (headEnd < 0) throw bad('unterminated part headers');
      for (const line of body.toString('utf8', pos, headEnd).split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      dataStart = headEnd + 4;
    }
    const end = findDelimiter(body, next, dataStart);
    if (end < 0) throw bad('no closing boundary');
    const disposition = headers['content-disposition'] || '';
    parts.push({
      name: dispositionParam(disposition, 'name'),
      filename: dispositionParam(disposition, 'filename'),
      data: body.subarray(dataStart, end),
    });
    pos = end + 2;
  }
  return parts;
}

// Where the part that starts at from ends: at the next CRLF--boundary that is
// followed by "--" or (padding and) CRLF. The boundary with anything else
// after it is the part's data, which careless encoders do produce.
function findDelimiter(body, next, from) {
  for (let at = body.indexOf(next, from); at >= 0; at = body.indexOf(next, at + 1)) {
    let p = at + next.length;
    if (body[p] === 0x2d && body[p + 1] === 0x2d) return at;
    while (body[p] === 0x20 || body[p] === 0x09) p++;
    if (body[p] === 0x0d && body[p + 1] === 0x0a) return at;
  }
  return -1;
}

// Fields (name -> string) and the file (a Buffer) of an upload or destroy
// request, from multipart/form-data or application/x-www-form-urlencoded.
function parseForm(req, body) {
  const type = req.headers['content-type'] || '';
  const fields = new Map();
  let file = null;
  let filename;
  if (/^multipart\/form-data/i.test(type)) {
    const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(type);
    if (!m) throw new HttpError(400, 'stand-in: multipart/form-data without a boundary');
    for (const part of parseMultipart(body, m[1] || m[2])) {
      if (part.name === undefined) continue;
      if (part.name === 'file') {
        file = part.data;
        filename = part.filename;
        if (filename === undefined) file = fileFromText(part.data.toString('utf8')) || part.data;
      } else {
        fields.set(part.name, part.data.toString('utf8'));
      }
    }
  } else if (body.length > 0) {
    // urlencoded (or no Content-Type at all, which curl -d also means)
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) {
      if (k === 'file') file = fileFromText(v) || Buffer.from(v, 'utf8');
      else fields.set(k, v);
    }
  }
  return { fields, file, filename };
}

// Cloudinary also takes `file` as a data URI or a remote URL. A data URI is
// decoded; a URL cannot be fetched here (no network), so it is refused.
function fileFromText(text) {
  const data = /^data:[^,]*?(;base64)?,/.exec(text);
  if (data) {
    const payload = text.slice(data[0].length);
    return data[1] ? Buffer.from(payload, 'base64') : Buffer.from(decodeURIComponent(payload), 'utf8');
  }
  if (/^(https?|ftp|s3|gs):\/\//i.test(text)) {
    throw new HttpError(400, 'stand-in: remote file URLs are not supported (the stand-in has no network)');
  }
  return null;
}

// ---------------------------------------------------------------- authentication

// Cloudinary's request signature: every parameter but these, empty values
// dropped, sorted by name, name=value joined with '&', the secret appended.
const UNSIGNED = new Set(['file', 'cloud_name', 'resource_type', 'api_key', 'signature']);
function stringToSign(fields) {
  return [...fields]
    .filter(([k, v]) => !UNSIGNED.has(k) && v !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function checkSigned(fields) {
  const apiKey = fields.get('api_key');
  if (!apiKey) throw new HttpError(401, 'Must supply api_key');
  if (apiKey !== opts.key) throw new HttpError(401, `Invalid api_key ${apiKey}`);
  const ts = fields.get('timestamp');
  if (ts === undefined || ts === '') throw new HttpError(400, 'Missing required parameter - timestamp');
  if (!/^\d+$/.test(ts) || Math.abs(nowSeconds() - Number(ts)) > 3600) {
    throw new HttpError(401, `Stale request - reported time is ${ts} which is more than 1 hour ago`);
  }
  const toSign = stringToSign(fields);
  const given = (fields.get('signature') || '').toLowerCase();
  // The account's algorithm is SHA-1 or SHA-256; the stand-in takes either.
  const ok = (given.length === 40 && given === sha1(toSign + opts.secret)) ||
    (given.length === 64 && given === sha256(toSign + opts.secret));
  if (!ok) throw new HttpError(401, `Invalid Signature ${fields.get('signature') || ''}. String to sign - '${toSign}'.`);
}

function checkBasicAuth(req) {
  const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization || '');
  const expected = `${opts.key}:${opts.secret}`;
  if (!m || Buffer.from(m[1], 'base64').toString('utf8') !== expected) {
    throw new HttpError(401, 'Invalid credentials');
  }
}

// ---------------------------------------------------------------- failure injection

// op -> queue of { remaining, mode, status }; one request of the op consumes
// one from the head of its queue (or of 'any''s).
const failures = new Map();

function takeFailure(op) {
  for (const key of [op, 'any']) {
    const queue = failures.get(key);
    if (!queue || queue.length === 0) continue;
    const f = queue[0];
    if (--f.remaining <= 0) queue.shift();
    return { mode: f.mode, status: f.status };
  }
  return null;
}

const hungSockets = new Set();

// ---------------------------------------------------------------- request log

const requestLog = [];

// One line of JSON per request on stdout, and the same entry in the log that
// GET /__standin/log answers (control requests stay out of that one, so that
// tests see only the traffic of the client under test).
function record(ctx, status) {
  if (ctx.recorded) return;
  ctx.recorded = true;
  const entry = {
    time: new Date().toISOString(),
    method: ctx.req.method,
    path: ctx.url.pathname,
    query: ctx.url.search,
    op: ctx.op,
    status,
    public_id: ctx.publicId ?? null,
    resource_type: ctx.rt ?? null,
    invalidate: ctx.invalidate ?? null,
    chunked: Boolean(ctx.chunked),
    timestamp: ctx.timestamp ?? null, // the request's signed timestamp field
  };
  if (ctx.chunked) Object.assign(entry, { upload_id: ctx.uploadId, range: ctx.range });
  if (ctx.error) entry.error = ctx.error;
  if (ctx.injected) entry.injected = ctx.injected; // status, reset, hang or reset_after
  if (ctx.op !== 'control') requestLog.push(entry);
  process.stdout.write(`${JSON.stringify({ ...entry, ms: Date.now() - ctx.started })}\n`);
}

// ---------------------------------------------------------------- responses

function sendJson(ctx, status, obj, headers = {}) {
  if (ctx.resetAfter) {
    // The request did its work; the answer is lost on the way back.
    record(ctx, status);
    ctx.req.socket.destroy();
    return;
  }
  const body = Buffer.from(JSON.stringify(obj));
  ctx.res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length, ...headers });
  ctx.res.end(body);
  record(ctx, status);
}

function sendError(ctx, status, message, headers) {
  ctx.error = message;
  sendJson(ctx, status, { error: { message } }, headers);
}

// ---------------------------------------------------------------- upload

// Uploads of one resource type; 'auto' picks it from the bytes.
async function handleUpload(ctx, rtAsked) {
  const { fields, file, filename } = parseForm(ctx.req, ctx.body);
  ctx.publicId = fields.get('public_id') || null;
  ctx.timestamp = fields.get('timestamp') ?? null;
  ctx.invalidate = fields.has('invalidate') ? isTrue(fields.get('invalidate')) : null;
  checkSigned(fields);
  if (!file) throw new HttpError(400, 'Missing required parameter - file');
  const type = fields.get('type');
  if (type && type !== 'upload') throw new HttpError(400, `stand-in: only type=upload is supported, not ${type}`);

  const range = ctx.req.headers['content-range'];
  let tmp;
  if (range !== undefined) {
    ctx.chunked = true;
    tmp = await receiveChunk(ctx, range, file);
    if (!tmp) return sendJson(ctx, 200, { done: false });
  } else {
    tmp = tmpPath();
    await fsp.writeFile(tmp, file);
  }
  try {
    const meta = await finishUpload(ctx, rtAsked, fields, tmp, filename);
    sendJson(ctx, 200, meta);
  } finally {
    await fsp.rm(tmp, { force: true }); // still there unless committed
  }
}

async function finishUpload(ctx, rtAsked, fields, tmp, filename) {
  const info = await describeFile(tmp);
  Object.assign(info, sniff(info.head));
  const rt = rtAsked === 'auto' ? (info.kind || 'raw') : rtAsked;
  ctx.rt = rt;
  if (info.bytes === 0) throw new HttpError(400, 'Empty file');
  if (rt === 'image' && info.kind !== 'image') throw new HttpError(400, 'Invalid image file');
  if (rt === 'video' && info.kind !== 'video') throw new HttpError(400, 'Invalid video file');
  const publicId = fields.get('public_id') || randomPublicId();
  ctx.publicId = publicId;
  const originalFilename = filename ? filename.replace(/\.[^./]*$/, '') : 'file';
  return withLock(assetKey(rt, publicId), async () => {
    const existing = assets.get(assetKey(rt, publicId));
    if (existing && isFalse(fields.get('overwrite'))) return { ...uploadJson(existing), existing: true };
    return uploadJson(await commitAsset(rt, publicId, tmp, info, originalFilename));
  });
}

// Chunked upload ("upload_large"): each chunk is a full signed request whose
// file part is the bytes START..END of TOTAL. Chunks are kept on disk per
// X-Unique-Upload-Id (so they survive a restart too); the chunk that ends at
// TOTAL-1 completes the upload if every byte has arrived. Returns the path of
// the assembled file when complete, else null.
async function receiveChunk(ctx, rangeHeader, file) {
  const uploadId = ctx.req.headers['x-unique-upload-id'];
  if (!uploadId) throw new HttpError(400, 'stand-in: Content-Range without X-Unique-Upload-Id');
  // TOTAL may be unknown until the last chunk: some clients send -1 or *.
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|-1|\*)$/.exec(rangeHeader.trim());
  if (!m) throw new HttpError(400, `stand-in: bad Content-Range ${rangeHeader}`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = /^\d+$/.test(m[3]) ? Number(m[3]) : null;
  ctx.uploadId = uploadId;
  ctx.range = `${start}-${end}/${m[3]}`;
  if (end < start || (total !== null && end >= total)) throw new HttpError(400, `stand-in: bad Content-Range ${rangeHeader}`);
  if (file.length !== end - start + 1) {
    throw new HttpError(400, `stand-in: chunk of ${file.length} bytes for Content-Range ${rangeHeader}`);
  }
  const dir = path.join(dirs.chunks, sha256(uploadId));
  return withLock(`chunks\0${uploadId}`, async () => {
    await fsp.mkdir(dir, { recursive: true });
    await writeFileAtomic(path.join(dir, `${start}-${end}.part`), file);
    if (total === null || end !== total - 1) return null;

    const parts = (await fsp.readdir(dir))
      .map((f) => /^(\d+)-(\d+)\.part$/.exec(f))
      .filter(Boolean)
      .map((p) => ({ start: Number(p[1]), end: Number(p[2]), file: path.join(dir, p[0]) }))
      .filter((p) => p.end < total)
      .sort((a, b) => a.start - b.start || b.end - a.end);
    let covered = 0; // bytes 0..covered-1 are present
    for (const p of parts) {
      if (p.start > covered) break;
      covered = Math.max(covered, p.end + 1);
    }
    if (covered < total) {
      // Kept: the client may send the missing chunks and then the last again.
      throw new HttpError(400, `stand-in: chunked upload ${uploadId} is missing bytes ${covered}-${total - 1} ` +
        `(the chunk ending at ${total - 1} must come last)`);
    }
    const tmp = tmpPath();
    const fh = await fsp.open(tmp, 'w');
    try {
      // Retried or overlapping chunks carry the same bytes; writing each at
      // its offset makes the overlap harmless.
      for (const p of parts) {
        const data = await fsp.readFile(p.file);
        await fh.write(data, 0, data.length, p.start);
      }
    } finally {
      await fh.close();
    }
    await fsp.rm(dir, { recursive: true, force: true });
    return tmp;
  });
}

// ---------------------------------------------------------------- destroy

async function handleDestroy(ctx, rt) {
  const { fields } = parseForm(ctx.req, ctx.body);
  ctx.publicId = fields.get('public_id') || null;
  ctx.timestamp = fields.get('timestamp') ?? null;
  ctx.invalidate = fields.has('invalidate') ? isTrue(fields.get('invalidate')) : null;
  checkSigned(fields);
  const publicId = fields.get('public_id');
  if (!publicId) throw new HttpError(400, 'Missing required parameter - public_id');
  const type = fields.get('type') || 'upload';
  const removed = type === 'upload' && (await withLock(assetKey(rt, publicId), () => removeAsset(rt, publicId)));
  sendJson(ctx, 200, { result: removed ? 'ok' : 'not found' });
}

// ---------------------------------------------------------------- Admin API

function handleList(ctx, rt, type) {
  const q = ctx.url.searchParams;
  const prefix = q.get('prefix') || '';
  let max = 10;
  if (q.has('max_results')) {
    max = Number(q.get('max_results'));
    if (!Number.isInteger(max) || max < 1) throw new HttpError(400, `Invalid max_results ${q.get('max_results')}`);
    max = Math.min(max, 500);
  }
  // The cursor is the last public_id of the previous page (opaque to
  // clients), so pages stay consistent while assets come and go.
  let after = null;
  if (q.get('next_cursor')) {
    try {
      after = JSON.parse(Buffer.from(q.get('next_cursor'), 'base64url').toString('utf8')).after;
    } catch {
      after = null;
    }
    if (typeof after !== 'string') throw new HttpError(400, 'Invalid next_cursor');
  }
  let all = type === 'upload' ? listAssets(rt, prefix) : [];
  if (after !== null) all = all.filter((m) => m.public_id > after);
  const page = all.slice(0, max);
  const out = { resources: page.map(resourceJson) };
  if (all.length > max) {
    out.next_cursor = Buffer.from(JSON.stringify({ after: page[page.length - 1].public_id })).toString('base64url');
  }
  sendJson(ctx, 200, out);
}

function handleGet(ctx, rt, type, publicId) {
  ctx.publicId = publicId;
  const meta = type === 'upload' ? assets.get(assetKey(rt, publicId)) : undefined;
  if (!meta) throw new HttpError(404, `Resource not found - ${publicId}`);
  sendJson(ctx, 200, resourceJson(meta));
}

// ---------------------------------------------------------------- delivery

// One path segment of transformation parameters, e.g. c_fill,w_200,h_200.
const isTransformation = (seg) => seg !== '' && seg.split(',').every((p) => /^[a-z]{1,3}_[^/]*$/.test(p));

// Finds the asset a delivery path names. Transformation segments and the
// version are optional and ambiguous with a public_id's folders (a folder
// "my_pics" looks like a transformation), so every reading is tried, the one
// with the fewest transformation segments first.
function resolveDelivery(rt, segs) {
  let maxT = 0;
  while (maxT < segs.length - 1 && isTransformation(segs[maxT])) maxT++;
  for (let k = 0; k <= maxT; k++) {
    const rest = segs.slice(k);
    const readings = [];
    if (rest.length > 1 && /^v\d+$/.test(rest[0])) readings.push(rest.slice(1));
    readings.push(rest);
    for (const idSegs of readings) {
      const id = idSegs.join('/');
      const candidates = [id];
      // Images and videos are delivered with a format extension that is not
      // part of the public_id; raw public_ids include theirs.
      const dot = id.lastIndexOf('.');
      if (rt !== 'raw' && dot > id.lastIndexOf('/') + 1) candidates.push(id.slice(0, dot));
      for (const c of candidates) {
        const meta = assets.get(assetKey(rt, c));
        if (meta) return { meta, transformation: segs.slice(0, k) };
      }
    }
  }
  return null;
}

async function handleDelivery(ctx, rt, rawSegs) {
  if (ctx.resetAfter) {
    // Nothing to do before the answer is lost.
    record(ctx, null);
    return ctx.req.socket.destroy();
  }
  let segs;
  try {
    segs = rawSegs.map(decodeURIComponent);
  } catch {
    segs = null;
  }
  const found = segs && resolveDelivery(rt, segs);
  if (!found) {
    ctx.res.writeHead(404, { 'Content-Length': 0, 'X-Cld-Error': 'Resource not found' });
    ctx.res.end();
    return record(ctx, 404);
  }
  const { meta, transformation } = found;
  ctx.publicId = meta.public_id;
  let fh;
  try {
    fh = await fsp.open(path.join(dirs.assets, rt, meta.blob), 'r');
  } catch (e) {
    // Overwritten or destroyed between the lookup and the open: ask again.
    if (e.code === 'ENOENT' && !ctx.retried) {
      ctx.retried = true;
      return handleDelivery(ctx, rt, rawSegs);
    }
    throw e;
  }
  try {
    const parts = transformation.flatMap((t) => t.split(','));
    const attachment = parts.some((p) => p.startsWith('fl_') && p.slice(3).split('.').some((f) => /^attachment(:|$)/.test(f)));
    const etag = `"${meta.etag}"`;
    const headers = {
      'Content-Type': meta.content_type || 'application/octet-stream',
      ETag: etag,
      'Last-Modified': new Date(meta.version * 1000).toUTCString(),
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'public, max-age=2592000',
      'X-Standin-Transformation': transformation.join('/'),
    };
    if (attachment) headers['Content-Disposition'] = 'attachment';
    const inm = ctx.req.headers['if-none-match'];
    if (inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*')) {
      ctx.res.writeHead(304, headers);
      ctx.res.end();
      return record(ctx, 304);
    }
    const size = meta.bytes;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = parseRange(ctx.req.headers.range, size);
    if (range === 'unsatisfiable') {
      ctx.res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
      ctx.res.end();
      return record(ctx, 416);
    }
    if (range) {
      [start, end] = range;
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['Content-Length'] = end - start + 1;
    ctx.res.writeHead(status, headers);
    record(ctx, status);
    if (ctx.req.method === 'HEAD' || end < start) {
      ctx.res.end();
      return;
    }
    const stream = fh.createReadStream({ start, end, autoClose: false });
    await new Promise((resolve) => {
      stream.on('error', (e) => {
        ctx.res.destroy(e);
        resolve();
      });
      ctx.res.on('close', resolve);
      stream.pipe(ctx.res);
    });
  } finally {
    await fh.close();
  }
}

// One range of a Range header: [start, end], 'unsatisfiable', or null to
// answer the whole file (no header, several ranges, or a malformed one).
function parseRange(header, size) {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return [start, m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)];
}

// ---------------------------------------------------------------- test control

async function handleControl(ctx, what) {
  const remote = ctx.req.socket.remoteAddress;
  if (!['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(remote)) {
    throw new HttpError(403, 'stand-in: control endpoints answer loopback clients only');
  }
  const method = ctx.req.method;
  const json = async () => {
    const body = await readBody(ctx.req);
    try {
      return body.length ? JSON.parse(body.toString('utf8')) : {};
    } catch {
      throw new HttpError(400, 'stand-in: the body is not JSON');
    }
  };
  if (method === 'POST' && what === 'fail') {
    const { op, count, status = 500, mode = 'status' } = await json();
    const ops = ['upload', 'destroy', 'list', 'get', 'usage', 'ping', 'delivery', 'any'];
    if (!ops.includes(op)) throw new HttpError(400, `stand-in: op must be one of ${ops.join(', ')}`);
    if (!Number.isInteger(count) || count < 0) throw new HttpError(400, 'stand-in: count must be an integer >= 0');
    if (!['status', 'reset', 'hang', 'reset_after'].includes(mode)) {
      throw new HttpError(400, 'stand-in: mode must be status, reset, hang or reset_after');
    }
    if (!Number.isInteger(status) || status < 100 || status > 599) throw new HttpError(400, 'stand-in: bad status');
    if (count === 0) failures.delete(op);
    else {
      if (!failures.has(op)) failures.set(op, []);
      failures.get(op).push({ remaining: count, mode, status });
    }
    const pending = Object.fromEntries([...failures].map(([k, q]) => [k, q.reduce((n, f) => n + f.remaining, 0)]));
    return sendJson(ctx, 200, { ok: true, pending });
  }
  if (method === 'GET' && what === 'log') return sendJson(ctx, 200, requestLog);
  if (method === 'POST' && what === 'log/clear') {
    requestLog.length = 0;
    return sendJson(ctx, 200, { ok: true });
  }
  if (method === 'GET' && what === 'assets') {
    const out = [...assets.values()]
      .sort((a, b) => a.resource_type.localeCompare(b.resource_type) || (a.public_id < b.public_id ? -1 : 1))
      .map((m) => ({ resource_type: m.resource_type, public_id: m.public_id, bytes: m.bytes, version: m.version,
        format: m.format, etag: m.etag }));
    return sendJson(ctx, 200, out);
  }
  if (method === 'POST' && what === 'clock') {
    const { skew } = await json();
    if (typeof skew !== 'number' || !Number.isFinite(skew)) throw new HttpError(400, 'stand-in: skew must be a number of seconds');
    clockSkew = Math.trunc(skew);
    return sendJson(ctx, 200, { ok: true, skew: clockSkew, now: nowSeconds() });
  }
  throw new HttpError(404, `stand-in: no such endpoint ${method} /__standin/${what}`);
}

// ---------------------------------------------------------------- routing

// Which operation a request is, and the function that does it. Worked out
// before the body is read so that failures can be injected per operation.
function route(ctx) {
  const { req, url } = ctx;
  const p = url.pathname;
  const method = req.method;
  if (p.startsWith('/__standin/')) return { op: 'control', run: () => handleControl(ctx, p.slice('/__standin/'.length)) };
  const segs = p.split('/').slice(1);
  if (segs[0] === 'v1_1' && segs.length >= 3) {
    const [, cloud, third, fourth] = segs;
    const checkCloud = () => {
      if (cloud !== opts.cloud) throw new HttpError(401, `Invalid cloud_name ${cloud}`);
    };
    if (method === 'POST' && segs.length === 4 && (RESOURCE_TYPES.has(third) || third === 'auto') && fourth === 'upload') {
      ctx.rt = third === 'auto' ? null : third;
      return { op: 'upload', body: true, run: () => (checkCloud(), handleUpload(ctx, third)) };
    }
    if (method === 'POST' && segs.length === 4 && RESOURCE_TYPES.has(third) && fourth === 'destroy') {
      ctx.rt = third;
      return { op: 'destroy', body: true, run: () => (checkCloud(), handleDestroy(ctx, third)) };
    }
    if (method === 'GET' && segs.length === 3 && third === 'usage') {
      return { op: 'usage', run: () => (checkCloud(), checkBasicAuth(req), sendJson(ctx, 200, { plan: 'stand-in' })) };
    }
    // The Admin API's ping (what medialib's readiness check calls).
    if (method === 'GET' && segs.length === 3 && third === 'ping') {
      return { op: 'ping', run: () => (checkCloud(), checkBasicAuth(req), sendJson(ctx, 200, { status: 'ok' })) };
    }
    if (method === 'GET' && third === 'resources' && RESOURCE_TYPES.has(fourth)) {
      ctx.rt = fourth;
      const type = segs[4] || 'upload';
      if (segs.length <= 5 || (segs.length === 6 && segs[5] === '')) return { op: 'list', run: () => (checkCloud(), checkBasicAuth(req), handleList(ctx, fourth, type)) };
      // The public_id is the rest of the path, its slashes plain or as %2F.
      let publicId;
      try {
        publicId = decodeURIComponent(segs.slice(5).join('/'));
      } catch {
        publicId = null;
      }
      return {
        op: 'get',
        run: () => {
          checkCloud();
          checkBasicAuth(req);
          if (publicId === null || publicId === '') throw new HttpError(400, 'stand-in: bad public_id in the path');
          return handleGet(ctx, fourth, type, publicId);
        },
      };
    }
  }
  if ((method === 'GET' || method === 'HEAD') && segs.length >= 4 && segs[0] === opts.cloud &&
      RESOURCE_TYPES.has(segs[1]) && segs[2] === 'upload' && segs[3] !== '') {
    ctx.rt = segs[1];
    return { op: 'delivery', run: () => handleDelivery(ctx, segs[1], segs.slice(3)) };
  }
  return { op: 'unknown', run: () => {
    throw new HttpError(404, `stand-in: no such endpoint ${method} ${p}`);
  } };
}

async function handle(req, res) {
  const ctx = { req, res, started: Date.now(), url: new URL(req.url, 'http://127.0.0.1') };
  try {
    const r = route(ctx);
    ctx.op = r.op;
    if (r.op !== 'control' && r.op !== 'unknown') {
      const failure = takeFailure(r.op);
      if (failure) ctx.injected = failure.mode;
      if (failure && failure.mode === 'reset_after') {
        ctx.resetAfter = true;
      } else if (failure) {
        // The whole request arrives first (as it would at a real server that
        // then fails), except that an oversized one is refused as usual.
        if (r.body) await readBody(req);
        else req.resume();
        if (failure.mode === 'status') return sendError(ctx, failure.status, 'stand-in failure injected');
        if (failure.mode === 'reset') {
          record(ctx, null);
          return req.socket.destroy();
        }
        if (failure.mode === 'hang') {
          record(ctx, null);
          hungSockets.add(req.socket);
          req.socket.on('close', () => hungSockets.delete(req.socket));
          return;
        }
      }
    }
    if (r.body) ctx.body = await readBody(req);
    await r.run();
  } catch (e) {
    if (!(e instanceof HttpError)) {
      process.stderr.write(`cloudinary stand-in: ${req.method} ${req.url}: ${e.stack || e}\n`);
      e = new HttpError(500, `stand-in internal error: ${e.message}`);
    }
    if (res.headersSent) {
      res.destroy();
      return record(ctx, res.statusCode);
    }
    sendError(ctx, e.status, e.message, e.closeConnection ? { Connection: 'close' } : {});
  }
}

// ---------------------------------------------------------------- main

await loadStore();
const server = http.createServer((req, res) => {
  handle(req, res);
});
// Huge chunked uploads over a slow link must not be cut off by Node's
// default five-minute request timeout.
server.requestTimeout = 0;
server.listen(opts.port, '127.0.0.1', async () => {
  const port = server.address().port;
  baseUrl = `http://127.0.0.1:${port}`;
  if (opts.portFile) await writeFileAtomic(opts.portFile, `${port}\n`);
  process.stdout.write(`${JSON.stringify({
    msg: 'Cloudinary stand-in (a local test double, not Cloudinary) listening',
    url: baseUrl, port, cloud: opts.cloud, dir: opts.dir, assets: assets.size,
  })}\n`);
});

function shutdown(signal) {
  process.stdout.write(`${JSON.stringify({ msg: `Cloudinary stand-in: ${signal}, exiting` })}\n`);
  // Every acknowledged write is already renamed into place; open connections
  // (hung ones included) are simply dropped.
  server.close();
  server.closeAllConnections();
  for (const s of hungSockets) s.destroy();
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
