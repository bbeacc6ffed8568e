// A small client for the medialib API and the assertions the contract implies.
import assert from 'node:assert/strict';
import path from 'node:path';

import { PNG_1x1 } from './files.mjs';
import { fieldParts, multipart, request, sleep } from './http.mjs';
import { walkDir } from './server.mjs';
import { STORE_KIND, storeKeys } from './store.mjs';

export const RFC3339_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
export const MEDIA_KEYS = [
  'id', 'title', 'alt_text', 'caption', 'folder', 'tags', 'filename', 'mime_type', 'size',
  'width', 'height', 'sha256', 'version', 'url', 'variants', 'created_at', 'updated_at',
];

/** API client bound to a running server (see server.mjs). */
export function client(srv) {
  const base = srv.baseUrl;
  const call = (method, p, opts) => request(base, method, p, opts);
  const c = {
    base,
    get: (p, o) => call('GET', p, o),
    head: (p, o) => call('HEAD', p, o),
    del: (p, o) => call('DELETE', p, o),
    call,
    /** A JSON request; `body` is serialised unless it is already a string. */
    json: (method, p, body, o = {}) =>
      call(method, p, {
        ...o,
        headers: { 'content-type': 'application/json', ...o.headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    /** multipart upload of one file plus fields ({k: v | [v...]}). */
    upload(data = PNG_1x1, { filename = 'pixel.png', contentType = 'image/png', fields = {}, method = 'POST', path: p = '/api/media/', headers = {} } = {}) {
      const { body, contentType: ct } = multipart([...fieldParts(fields), { name: 'file', filename, contentType, data }]);
      return call(method, p, { headers: { 'content-type': ct, ...headers }, body });
    },
    /** Uploads and asserts 201; returns the media object. */
    async create(data = PNG_1x1, opts) {
      const res = await c.upload(data, opts);
      assert.equal(res.status, 201, `upload answered ${res.status}: ${res.text.slice(0, 500)}`);
      return res.json;
    },
    async getMedia(id) {
      const res = await c.get(`/api/media/${id}/`);
      assert.equal(res.status, 200, `GET /api/media/${id}/ answered ${res.status}: ${res.text.slice(0, 300)}`);
      return res.json;
    },
    /** Every media id, walking all pages. */
    async allIds() {
      const ids = [];
      for (let page = 1; ; page++) {
        const res = await c.get(`/api/media/?page=${page}&page_size=100`);
        assert.equal(res.status, 200, res.text);
        ids.push(...res.json.results.map((m) => m.id));
        if (!res.json.next) return ids;
      }
    },
    async count() {
      const res = await c.get('/api/media/');
      assert.equal(res.status, 200, res.text);
      return res.json.count;
    },
  };
  return c;
}

/** Asserts the documented error shape; `code` may be a string or a list of accepted codes. */
export function assertError(res, status, code) {
  const statuses = [status].flat();
  assert.ok(statuses.includes(res.status), `expected status ${statuses.join(' or ')}, got ${res.status}: ${res.text.slice(0, 500)}`);
  const ct = typeof res.headers.get === 'function' ? res.headers.get('content-type') : res.headers['content-type'];
  assert.match(ct ?? '', /json/, `error Content-Type is JSON (got ${ct})`);
  const e = res.json?.error;
  assert.ok(e && typeof e === 'object', `body is {"error": {...}}, got: ${res.text.slice(0, 300)}`);
  if (code !== undefined) {
    const codes = [code].flat();
    assert.ok(codes.includes(e.code), `error.code is ${codes.join(' or ')}, got ${JSON.stringify(e.code)}`);
  }
  assert.equal(typeof e.message, 'string', 'error.message is a string');
  assert.ok(e.message.length > 0, 'error.message is not empty');
  assert.equal(typeof e.request_id, 'string', 'error.request_id is a string');
  assert.ok(e.request_id.length > 0, 'error.request_id is not empty');
  const rid = typeof res.headers.get === 'function' ? res.headers.get('x-request-id') : res.headers['x-request-id'];
  if (rid) assert.equal(e.request_id, rid, 'error.request_id equals the X-Request-Id header');
  return e;
}

/** A validation_failed error naming `field` in error.fields. */
export function assertFieldError(res, field) {
  const e = assertError(res, 400, 'validation_failed');
  assert.ok(e.fields && typeof e.fields === 'object', `error.fields is an object: ${JSON.stringify(e)}`);
  assert.equal(typeof e.fields[field], 'string', `error.fields.${field} explains the problem: ${JSON.stringify(e.fields)}`);
  return e;
}

/** The filename part of a media URL, percent-decoded, after checking the URL's prefix. */
export function urlFilename(url, base, id, version, transform = '') {
  const prefix = `${base}/media/${id}/v${version}/${transform ? `${transform}/` : ''}`;
  assert.ok(url.startsWith(prefix), `${url} starts with ${prefix}`);
  const seg = url.slice(prefix.length);
  assert.ok(!seg.includes('/') && !seg.includes('?'), `${url} ends with one path segment`);
  return decodeURIComponent(seg);
}

/**
 * Asserts a media object has exactly the documented fields with the right
 * types and consistent URLs, then that `expected` fields match.
 */
export function assertMedia(m, base, expected = {}) {
  assert.ok(m && typeof m === 'object', 'media is an object');
  assert.deepEqual(Object.keys(m).sort(), [...MEDIA_KEYS].sort(), 'media object has exactly the documented fields');
  assert.ok(Number.isInteger(m.id) && m.id > 0, 'id is a positive integer');
  for (const k of ['title', 'alt_text', 'caption', 'folder', 'filename', 'mime_type', 'sha256', 'url']) {
    assert.equal(typeof m[k], 'string', `${k} is a string`);
  }
  assert.ok(Array.isArray(m.tags) && m.tags.every((t) => typeof t === 'string'), 'tags is an array of strings');
  assert.ok(Number.isInteger(m.size) && m.size >= 0, 'size is an integer');
  for (const k of ['width', 'height']) assert.ok(m[k] === null || (Number.isInteger(m[k]) && m[k] > 0), `${k} is a positive integer or null`);
  assert.match(m.sha256, /^[0-9a-f]{64}$/, 'sha256 is 64 lowercase hex digits');
  assert.ok(Number.isInteger(m.version) && m.version >= 1, 'version is an integer >= 1');
  assert.ok(m.filename.length > 0, 'filename is not empty');
  assert.equal(urlFilename(m.url, base, m.id, m.version), m.filename, 'url is <base>/media/<id>/v<version>/<filename>');
  assert.ok(m.variants && typeof m.variants === 'object' && !Array.isArray(m.variants), 'variants is an object');
  for (const [name, u] of Object.entries(m.variants)) {
    assert.equal(typeof u, 'string', `variants.${name} is a URL`);
    assert.ok(u.startsWith(`${base}/media/${m.id}/v${m.version}/`), `variants.${name} embeds the version: ${u}`);
  }
  for (const k of ['created_at', 'updated_at']) {
    assert.match(m[k], RFC3339_Z, `${k} is RFC 3339 UTC with Z: ${m[k]}`);
    assert.ok(!Number.isNaN(Date.parse(m[k])), `${k} is a real date`);
  }
  assert.ok(Date.parse(m.updated_at) >= Date.parse(m.created_at), 'updated_at >= created_at');
  for (const [k, v] of Object.entries(expected)) assert.deepEqual(m[k], v, `media.${k}`);
}

const SQLITE_FILE = /^medialib\.db(-wal|-shm|-journal)?$/;

/**
 * Files in the data dir other than the SQLite database files, and the blobs
 * of its store as "blobs/<key>" (on S3 too: lib/store.mjs).
 */
export async function dataFiles(dataDir) {
  const local = (await walkDir(dataDir)).filter((p) => !SQLITE_FILE.test(p));
  if (STORE_KIND === 'fs') return new Set(local);
  return new Set([...local, ...(await storeKeys(dataDir)).map((k) => `blobs/${k}`)]);
}

/**
 * Asserts that no file appeared in the data dir since `before` (a dataFiles()
 * snapshot), waiting up to `within` ms for cleanup after the response.
 */
export async function assertNoResidue(dataDir, before, { within = 3000 } = {}) {
  const deadline = Date.now() + within;
  for (;;) {
    const extra = [...(await dataFiles(dataDir))].filter((p) => !before.has(p));
    if (!extra.length) return;
    if (Date.now() > deadline) assert.deepEqual(extra, [], 'no file is left behind in the data dir');
    await sleep(100);
  }
}

/** Stored blobs of one media (keys m/<id>/...), whatever the store. */
export async function blobsOf(dataDir, id) {
  return storeKeys(dataDir, `m/${id}/`);
}

/** Polls `fn` until it returns a truthy value or `within` ms pass; returns the last value. */
export async function eventually(fn, { within = 5000, every = 100 } = {}) {
  const deadline = Date.now() + within;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > deadline) return v;
    await sleep(every);
  }
}

/** Asserts a 302 to `target` (Location may be relative) with Cache-Control: no-cache. */
export function assertRedirect(res, base, target) {
  assert.equal(res.status, 302, `expected 302, got ${res.status}: ${res.text.slice(0, 200)}`);
  assert.equal(new URL(res.headers.get('location'), base).href, target, 'Location is the current versioned URL');
  assert.match(res.headers.get('cache-control') ?? '', /no-cache/, 'a redirect to the current version is not cached');
}

/** Parses `filename*=UTF-8''...` out of a Content-Disposition value, decoded. */
export function dispositionFilename(cd) {
  const m = /filename\*\s*=\s*UTF-8''([^;\s]+)/i.exec(cd ?? '');
  assert.ok(m, `Content-Disposition has filename*=UTF-8''...: ${cd}`);
  return decodeURIComponent(m[1]);
}
