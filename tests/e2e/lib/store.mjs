// The blob store behind each test server, and what tests need to see in it.
//
// By default a server stores blobs in $DATA_DIR/blobs (file://). With
// MEDIALIB_E2E_S3_ENDPOINT set (make test-e2e-s3 starts s3rver and sets it),
// every fresh data dir gets a bucket of its own on that endpoint and the
// server runs with MEDIALIB_STORAGE_URL=s3://... ; restarts on the same data
// dir reuse its bucket. Tests never walk $DATA_DIR/blobs themselves: they ask
// storeKeys / blobsOf / readBlob / spoolDir, which answer for either backend.
//
// The S3 calls here are plain unsigned HTTP, which s3rver accepts (it does not
// check signatures); medialib itself always signs.
//
// With MEDIALIB_E2E_CLOUDINARY_ENDPOINT set (make test-e2e-cloudinary starts
// the Cloudinary stand-in, tests/cloudinary/standin.mjs: the real service
// cannot be reached from here), every fresh data dir gets a folder (public_id
// prefix) of its own in the stand-in's account, with delivery=proxy so the
// suite sees medialib's own answers, and chunked uploads above 1 MiB. The
// calls here are signed like medialib's, since the stand-in checks.
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';

export const S3_ENDPOINT = process.env.MEDIALIB_E2E_S3_ENDPOINT || '';
const S3_ACCESS_KEY = process.env.MEDIALIB_E2E_S3_ACCESS_KEY || 'S3RVER';
const S3_SECRET_KEY = process.env.MEDIALIB_E2E_S3_SECRET_KEY || 'S3RVER';

export const CLD_ENDPOINT = process.env.MEDIALIB_E2E_CLOUDINARY_ENDPOINT || '';
export const CLD_CLOUD = process.env.CLD_STANDIN_CLOUD || 'demo';
export const CLD_KEY = process.env.CLD_STANDIN_KEY || '123456789012345';
export const CLD_SECRET = process.env.CLD_STANDIN_SECRET || 'standin-secret';

// Replaced versions are removed at once, as on the file system, so the
// suite's checks of what is left after a replace hold on every store; the
// tests of the grace itself set it (MEDIALIB_REPLACED_GRACE_MS).
const NO_GRACE = { MEDIALIB_REPLACED_GRACE_MS: '0' };

/** Which backend the suite runs on, for test names and skips. */
export const STORE_KIND = CLD_ENDPOINT ? 'cloudinary' : S3_ENDPOINT ? 's3' : 'fs';

/** Is the store remote (blobs not under the data dir)? */
const remote = (b) => (b.kind === 's3' && b.bucket) || (b.kind === 'cloudinary' && b.prefix !== undefined);

/** A MEDIALIB_STORAGE_URL for the stand-in, with these extra parameters. */
export function cloudinaryUrl(params = {}) {
  const q = new URLSearchParams({ upload_prefix: CLD_ENDPOINT, delivery_prefix: CLD_ENDPOINT, ...params });
  return `cloudinary://${CLD_KEY}:${CLD_SECRET}@${CLD_CLOUD}?${q}`;
}

/** Cloudinary's signature of a call's parameters (SHA-1), as medialib signs. */
export function cloudinarySign(params, secret = CLD_SECRET) {
  const base = Object.keys(params)
    .filter((k) => !['file', 'cloud_name', 'resource_type', 'api_key', 'signature'].includes(k) && params[k] !== '')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  return crypto.createHash('sha1').update(base + secret).digest('hex');
}

/** The stand-in's assets: [{resource_type, public_id, bytes, version}]. */
export async function standinAssets() {
  const res = await fetch(`${CLD_ENDPOINT}/__standin/assets`, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`stand-in assets: ${res.status}`);
  return res.json();
}

// data dir -> { kind, bucket?, blobsDir?, env }
const backends = new Map();
let bucketSeq = 0;

async function s3(method, bucket, key = '', query = '') {
  const url = `${S3_ENDPOINT}/${bucket}${key ? `/${key}` : ''}${query ? `?${query}` : ''}`;
  const res = await fetch(url, { method, signal: AbortSignal.timeout(10_000) });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, body };
}

/**
 * The storage settings for a server on dataDir: a new bucket for a new data
 * dir (S3 mode), the same one on a restart. env is the test's own env: a test
 * that names MEDIALIB_STORAGE_URL itself (an fs-specific fault) keeps it.
 */
export async function backendFor(dataDir, env = {}) {
  const known = backends.get(dataDir);
  if (known && !env.MEDIALIB_STORAGE_URL) return known;
  let b;
  if (env.MEDIALIB_STORAGE_URL) {
    const u = env.MEDIALIB_STORAGE_URL;
    b = { kind: u.startsWith('s3://') ? 's3' : u.startsWith('cloudinary://') ? 'cloudinary' : 'fs', blobsDir: u.startsWith('file://') ? u.slice(7) : null, env: {} };
    if (b.kind === 'cloudinary') {
      b.prefix = new URL(u.replace(/^cloudinary:/, 'http:')).searchParams.get('prefix') || '';
      b.env = { MEDIALIB_STORAGE_URL: u }; // fsck must see the same folder
    }
  } else if (CLD_ENDPOINT) {
    const prefix = `e2e-${process.pid}-${++bucketSeq}/`;
    b = { kind: 'cloudinary', prefix, env: { MEDIALIB_STORAGE_URL: cloudinaryUrl({ prefix, delivery: 'proxy', chunk_size: '1MiB', tries: '4' }), ...NO_GRACE } };
  } else if (S3_ENDPOINT) {
    const bucket = `ml-e2e-${process.pid}-${++bucketSeq}`;
    const r = await s3('PUT', bucket);
    if (r.status !== 200) throw new Error(`cannot create bucket ${bucket} on ${S3_ENDPOINT}: ${r.status} ${r.body}`);
    b = {
      kind: 's3',
      bucket,
      env: {
        MEDIALIB_STORAGE_URL: `s3://${bucket}?endpoint=${encodeURIComponent(S3_ENDPOINT)}&region=us-east-1&style=path`,
        MEDIALIB_S3_ACCESS_KEY: S3_ACCESS_KEY,
        MEDIALIB_S3_SECRET_KEY: S3_SECRET_KEY,
        ...NO_GRACE,
      },
    };
  } else {
    b = { kind: 'fs', blobsDir: path.join(dataDir, 'blobs'), env: {} };
  }
  backends.set(dataDir, b);
  return b;
}

/** The environment a `medialib` command (fsck) needs to see dataDir's store. */
export function backendEnv(dataDir) {
  return backends.get(dataDir)?.env ?? {};
}

/** The spool dir of a server on dataDir (where uploads land before the store). */
export function spoolDir(dataDir) {
  const b = backends.get(dataDir);
  if (b?.kind === 's3' || b?.kind === 'cloudinary') return path.join(dataDir, 'spool');
  return path.join(b?.blobsDir ?? path.join(dataDir, 'blobs'), '.tmp');
}

async function walk(dir) {
  const out = [];
  async function rec(rel) {
    let entries;
    try {
      entries = await fsp.readdir(path.join(dir, rel), { withFileTypes: true });
    } catch (e) {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return;
      throw e;
    }
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await rec(p);
      else out.push(p);
    }
  }
  await rec('');
  return out.sort();
}

/** Every stored key of dataDir's store (not the spool), sorted. */
export async function storeKeys(dataDir, prefix = '') {
  const b = backends.get(dataDir) ?? { kind: 'fs', blobsDir: path.join(dataDir, 'blobs') };
  if (!remote(b)) {
    return (await walk(b.blobsDir)).filter((p) => !p.startsWith('.tmp/') && p.startsWith(prefix));
  }
  if (b.kind === 'cloudinary') {
    const full = b.prefix + prefix;
    return (await standinAssets()).filter((a) => a.public_id.startsWith(full)).map((a) => a.public_id.slice(b.prefix.length)).sort();
  }
  const keys = [];
  let token = '';
  for (;;) {
    const q = `list-type=2&prefix=${encodeURIComponent(prefix)}${token ? `&continuation-token=${encodeURIComponent(token)}` : ''}`;
    const r = await s3('GET', b.bucket, '', q);
    if (r.status !== 200) throw new Error(`list of ${b.bucket}: ${r.status} ${r.body}`);
    const xml = r.body.toString('utf8');
    for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(m[1].replace(/&amp;/g, '&'));
    const next = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml);
    if (!/<IsTruncated>true<\/IsTruncated>/.test(xml) || !next) break;
    token = next[1];
  }
  return keys.sort();
}

/** Removes a stored blob behind the server's back (a store that lost it). */
export async function removeBlob(dataDir, key) {
  const b = backends.get(dataDir) ?? { kind: 'fs', blobsDir: path.join(dataDir, 'blobs') };
  if (!remote(b)) return fsp.unlink(path.join(b.blobsDir, key));
  if (b.kind === 'cloudinary') {
    const a = (await standinAssets()).find((x) => x.public_id === b.prefix + key);
    if (!a) throw new Error(`stand-in: no asset ${b.prefix + key}`);
    const params = { public_id: a.public_id, timestamp: String(Math.floor(Date.now() / 1000)), type: 'upload' };
    const body = new URLSearchParams({ ...params, api_key: CLD_KEY, signature: cloudinarySign(params) });
    const res = await fetch(`${CLD_ENDPOINT}/v1_1/${CLD_CLOUD}/${a.resource_type}/destroy`, { method: 'POST', body, signal: AbortSignal.timeout(10_000) });
    const j = await res.json();
    if (j.result !== 'ok') throw new Error(`stand-in destroy ${key}: ${JSON.stringify(j)}`);
    return undefined;
  }
  const r = await s3('DELETE', b.bucket, key);
  if (r.status !== 204 && r.status !== 200) throw new Error(`S3 DELETE ${key}: ${r.status}`);
  return undefined;
}

/** The bytes of a stored blob, or null when it is not there. */
export async function readBlob(dataDir, key) {
  const b = backends.get(dataDir) ?? { kind: 'fs', blobsDir: path.join(dataDir, 'blobs') };
  if (!remote(b)) return fsp.readFile(path.join(b.blobsDir, key)).catch(() => null);
  if (b.kind === 'cloudinary') {
    const a = (await standinAssets()).find((x) => x.public_id === b.prefix + key);
    if (!a) return null;
    const res = await fetch(`${CLD_ENDPOINT}/${CLD_CLOUD}/${a.resource_type}/upload/v1/${a.public_id}`, { signal: AbortSignal.timeout(10_000) });
    return res.status === 200 ? Buffer.from(await res.arrayBuffer()) : null;
  }
  const r = await s3('GET', b.bucket, key);
  return r.status === 200 ? r.body : null;
}
