// File delivery: caching headers, U4 safety headers, conditional requests,
// HEAD, Range (H4), and redirects from unversioned URLs.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';

import { assertError, assertRedirect, client, dispositionFilename } from './lib/api.mjs';
import { JPEG_3x2, makePdf, makePng, SVG } from './lib/files.mjs';
import { SLOW, useServer } from './lib/server.mjs';

const PNG = makePng(64, 64); // ~12 KiB of random pixels
const F = {}; // kind -> media

const S = useServer({}, async (srv) => {
  const c = client(srv);
  F.png = await c.create(PNG, { filename: 'photo.png' });
  F.jpeg = await c.create(JPEG_3x2, { filename: 'photo.jpg', contentType: 'image/jpeg' });
  F.pdf = await c.create(makePdf(), { filename: 'report.pdf', contentType: 'application/pdf' });
  F.svg = await c.create(SVG, { filename: 'drawing.svg', contentType: 'image/svg+xml' });
});
const T = { timeout: 30_000 * SLOW };
const api = () => client(S.srv);

const get = (url, headers = {}) => api().get(url, { headers });

test('the versioned URL serves the uploaded bytes with immutable caching, strong ETag, Last-Modified, Accept-Ranges', T, async () => {
  const res = await get(F.png.url);
  assert.equal(res.status, 200);
  assert.ok(res.body.equals(PNG), 'body equals the upload');
  const h = res.headers;
  assert.equal(h.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.match(h.get('etag') ?? '', /^"[\x21\x23-\x7e]+"$/, `a strong ETag: ${h.get('etag')}`);
  assert.ok(!Number.isNaN(Date.parse(h.get('last-modified'))), `Last-Modified is a date: ${h.get('last-modified')}`);
  assert.match(h.get('last-modified'), /GMT$/, 'Last-Modified is an IMF-fixdate');
  assert.equal(h.get('accept-ranges'), 'bytes');
  assert.equal(h.get('content-length'), String(PNG.length));
  const again = await get(F.png.url);
  assert.equal(again.headers.get('etag'), h.get('etag'), 'the ETag is stable');
});

const KINDS = [
  ['png', 'image/png', 'inline'],
  ['jpeg', 'image/jpeg', 'inline'],
  ['pdf', 'application/pdf', 'inline'],
  ['svg', 'image/svg+xml', 'attachment'],
];
for (const [kind, type, disposition] of KINDS) {
  test(`U4: ${kind} is served as exactly ${type}, ${disposition}, with nosniff and a sandbox CSP`, T, async () => {
    const m = F[kind];
    assert.equal(m.mime_type, type, 'stored type (precondition)');
    const res = await get(m.url);
    assert.equal(res.status, 200);
    const h = res.headers;
    assert.equal(h.get('content-type'), type);
    assert.equal(h.get('x-content-type-options'), 'nosniff');
    assert.match(h.get('content-security-policy') ?? '', /(^|;)\s*sandbox\b/, `CSP has sandbox: ${h.get('content-security-policy')}`);
    const cd = h.get('content-disposition') ?? '';
    assert.match(cd, new RegExp(`^${disposition}\\s*(;|$)`, 'i'), `Content-Disposition: ${cd}`);
    assert.equal(dispositionFilename(cd), m.filename);
  });
}

test('If-None-Match with the ETag → 304 without a body; a different tag → 200', T, async () => {
  const { headers } = await get(F.png.url);
  const etag = headers.get('etag');
  for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
    const res = await get(F.png.url, { 'if-none-match': inm });
    assert.equal(res.status, 304, `If-None-Match: ${inm}`);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers.get('etag'), etag, '304 repeats the ETag');
  }
  const miss = await get(F.png.url, { 'if-none-match': '"something-else"' });
  assert.equal(miss.status, 200);
  assert.ok(miss.body.equals(PNG));
});

test('If-Modified-Since equal to Last-Modified → 304; before it → 200', T, async () => {
  const { headers } = await get(F.png.url);
  const lm = headers.get('last-modified');
  assert.equal((await get(F.png.url, { 'if-modified-since': lm })).status, 304);
  const earlier = new Date(Date.parse(lm) - 86400_000).toUTCString();
  assert.equal((await get(F.png.url, { 'if-modified-since': earlier })).status, 200);
  assert.equal((await get(F.png.url, { 'if-modified-since': 'not a date' })).status, 200, 'an unparsable date is ignored');
});

/** A HEAD over node:http so that any body bytes sent by mistake would be seen. */
function headRequest(url) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'HEAD', agent: false }, (res) => {
      let n = 0;
      res.on('data', (c) => (n += c.length));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, bodyBytes: n }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('HEAD answers the GET headers with Content-Length and no body', T, async () => {
  const g = await get(F.png.url);
  const h = await headRequest(F.png.url);
  assert.equal(h.status, 200);
  assert.equal(h.bodyBytes, 0);
  assert.equal(h.headers['content-length'], String(PNG.length));
  for (const k of ['etag', 'last-modified', 'content-type', 'cache-control', 'accept-ranges']) {
    assert.equal(h.headers[k], g.headers.get(k), `HEAD ${k}`);
  }
});

/** Asserts a 206 for [start, end] inclusive. */
function assert206(res, start, end) {
  assert.equal(res.status, 206, `expected 206, got ${res.status}`);
  assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${PNG.length}`);
  assert.equal(res.headers.get('content-length'), String(end - start + 1));
  assert.ok(res.body.equals(PNG.subarray(start, end + 1)), 'the body is that byte range');
}

test('Range: bytes=0-9, bytes=-5, bytes=5- and an end past the size → 206 with Content-Range', T, async () => {
  const n = PNG.length;
  assert206(await get(F.png.url, { range: 'bytes=0-9' }), 0, 9);
  assert206(await get(F.png.url, { range: 'bytes=-5' }), n - 5, n - 1);
  assert206(await get(F.png.url, { range: 'bytes=5-' }), 5, n - 1);
  assert206(await get(F.png.url, { range: `bytes=100-${n + 1000}` }), 100, n - 1);
  assert206(await get(F.png.url, { range: `bytes=${n - 1}-${n - 1}` }), n - 1, n - 1);
});

test('Range starting past the end → 416 with Content-Range: bytes */size', T, async () => {
  for (const range of [`bytes=${PNG.length}-`, `bytes=${PNG.length + 10}-${PNG.length + 20}`]) {
    const res = await get(F.png.url, { range });
    assertError(res, 416, 'range_not_satisfiable');
    assert.equal(res.headers.get('content-range'), `bytes */${PNG.length}`, range);
  }
});

test('a syntactically invalid Range is ignored → 200 whole file', T, async () => {
  for (const range of ['bytes=abc', 'items=0-1', 'bytes=9-2', 'bytes=--1']) {
    const res = await get(F.png.url, { range });
    assert.equal(res.status, 200, range);
    assert.ok(res.body.equals(PNG));
  }
});

test('If-Range with the ETag or Last-Modified honours the Range; a stale validator sends the whole file', T, async () => {
  const { headers } = await get(F.png.url);
  assert206(await get(F.png.url, { range: 'bytes=0-9', 'if-range': headers.get('etag') }), 0, 9);
  assert206(await get(F.png.url, { range: 'bytes=0-9', 'if-range': headers.get('last-modified') }), 0, 9);
  for (const ifRange of ['"stale-etag"', `W/${headers.get('etag')}`, new Date(Date.parse(headers.get('last-modified')) - 60_000).toUTCString()]) {
    const res = await get(F.png.url, { range: 'bytes=0-9', 'if-range': ifRange });
    assert.equal(res.status, 200, `If-Range: ${ifRange}`);
    assert.ok(res.body.equals(PNG));
  }
});

/** H4: many or overlapping ranges → the whole file (200) or exactly one honoured range (206). */
function assertOneRangeOrWhole(res) {
  if (res.status === 200) {
    assert.ok(res.body.equals(PNG), '200 carries the whole file');
    return;
  }
  assert.equal(res.status, 206, `200 or 206, got ${res.status}`);
  assert.doesNotMatch(res.headers.get('content-type') ?? '', /multipart/, 'no multipart/byteranges');
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
  assert.ok(m, `one Content-Range: ${res.headers.get('content-range')}`);
  assert.ok(res.body.equals(PNG.subarray(Number(m[1]), Number(m[2]) + 1)));
}

test('H4: 200 ranges in one header → 200 whole file or one range, quickly', T, async () => {
  const ranges = Array.from({ length: 200 }, (_, i) => `${i * 2}-${i * 2}`).join(',');
  const t0 = Date.now();
  assertOneRangeOrWhole(await get(F.png.url, { range: `bytes=${ranges}` }));
  assert.ok(Date.now() - t0 < 2000 * SLOW, 'answered quickly');
});

test('H4: overlapping ranges → 200 whole file or one range', T, async () => {
  for (const range of ['bytes=0-5,0-5,1-4', 'bytes=0-,0-,0-,0-,0-', `bytes=0-${PNG.length - 1},-${PNG.length}`]) {
    assertOneRangeOrWhole(await get(F.png.url, { range }));
  }
});

test('/media/{id} and /media/{id}/{filename} → 302 to the current versioned URL, Cache-Control: no-cache', T, async () => {
  const c = api();
  for (const p of [`/media/${F.png.id}`, `/media/${F.png.id}/photo.png`, `/media/${F.png.id}/`]) {
    assertRedirect(await c.get(p), c.base, F.png.url);
  }
});

test('an unknown or non-numeric id on /media/ → 404 JSON', T, async () => {
  const c = api();
  for (const p of ['/media/999999/v1/photo.png', '/media/999999', '/media/abc/v1/x.png']) {
    assertError(await c.get(p), 404, 'not_found');
  }
});
