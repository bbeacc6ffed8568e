// Upload: the media object, content sniffing (U1), size limits (U2),
// hostile filenames (U3), validation and truncated bodies.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { assertError, assertFieldError, assertMedia, assertNoResidue, client, dataFiles, dispositionFilename } from './lib/api.mjs';
import { bigPngChunks, elfBytes, HTML, JPEG_3x2, makePng, PNG_1x1, sha256 } from './lib/files.mjs';
import { chunkedFrames, multipart, pump, rawHead, rawRequest } from './lib/http.mjs';
import { SLOW, useServer, walkDir } from './lib/server.mjs';

const LIMIT = 1 << 20;
const S = useServer({ env: { MEDIALIB_MAX_UPLOAD: '1MiB' } });
const api = () => client(S.srv);
const T = { timeout: 30_000 * SLOW };

/** Runs `fn` (a refused request) and asserts that nothing was stored: same count, no new file. */
async function refusedWithoutResidue(fn) {
  const before = await dataFiles(S.srv.dataDir);
  const count = await api().count();
  const res = await fn();
  assert.equal(await api().count(), count, 'no media row was added');
  await assertNoResidue(S.srv.dataDir, before);
  return res;
}

/** A PNG of exactly n bytes. */
const pngOfExactly = (n) => Buffer.concat([...bigPngChunks(n, 64 << 10)]);

test('POST /api/media/ answers 201, a Location and the documented media object', T, async () => {
  const c = api();
  const data = makePng(4, 3);
  const fields = { title: 'Sunset over the ghats', alt_text: 'Orange sky over river steps', caption: 'Evening, day 2', folder: 'tours/varanasi', tags: 'sunset, river' };
  const t0 = Date.now();
  const res = await c.upload(data, { filename: 'sunset.png', fields });
  assert.equal(res.status, 201, res.text);
  const m = res.json;
  const { tags, ...rest } = fields;
  assertMedia(m, c.base, { ...rest, filename: 'sunset.png', mime_type: 'image/png', size: data.length, sha256: sha256(data), version: 1 });
  assert.deepEqual([...m.tags].sort(), ['river', 'sunset'], 'comma-separated tags are split and trimmed');
  assert.equal(m.url, `${c.base}/media/${m.id}/v1/sunset.png`);
  for (const k of ['created_at', 'updated_at']) {
    assert.ok(Math.abs(Date.parse(m[k]) - t0) < 120_000, `${k} is now, not ${m[k]}`);
  }

  const loc = res.headers.get('location');
  assert.ok(loc, 'Location header is present');
  assert.match(new URL(loc, c.base).pathname, new RegExp(`^/api/media/${m.id}/?$`), `Location points at the new media: ${loc}`);
  const again = await c.get(new URL(loc, c.base).pathname);
  assert.equal(again.status, 200);
  assert.deepEqual(again.json, m, 'GET on the Location returns the same object');

  const file = await c.get(m.url);
  assert.equal(file.status, 200);
  assert.ok(file.body.equals(data), 'the stored bytes are the uploaded bytes');
});

test('tags given as repeated fields and comma lists are all kept', T, async () => {
  const m = await api().create(PNG_1x1, { fields: { tags: ['alpha', 'beta, gamma', 'delta'] } });
  assert.deepEqual([...m.tags].sort(), ['alpha', 'beta', 'delta', 'gamma']);
});

test('image width and height are probed from the content (PNG 4x3, JPEG 3x2, replaced PNG 7x5)', T, async () => {
  const c = api();
  const png = await c.create(makePng(4, 3));
  assert.deepEqual([png.width, png.height], [4, 3]);
  const jpeg = await c.create(JPEG_3x2, { filename: 'tiny.jpg', contentType: 'image/jpeg' });
  assertMedia(jpeg, c.base, { mime_type: 'image/jpeg', size: JPEG_3x2.length, sha256: sha256(JPEG_3x2) });
  assert.deepEqual([jpeg.width, jpeg.height], [3, 2]);
  const res = await c.call('PUT', `/api/media/${png.id}/file`, { headers: { 'content-type': 'image/png' }, body: makePng(7, 5) });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual([res.json.width, res.json.height], [7, 5], 'a replacement is probed again');
});

test('U1: HTML bytes named .png are refused with 415 unsupported_media_type, nothing stored', T, async () => {
  const res = await refusedWithoutResidue(() => api().upload(HTML, { filename: 'innocent.png', contentType: 'image/png' }));
  assertError(res, 415, 'unsupported_media_type');
});

test('U1: ELF bytes named .png are refused with 415 unsupported_media_type, nothing stored', T, async () => {
  const res = await refusedWithoutResidue(() => api().upload(elfBytes(), { filename: 'photo.png', contentType: 'image/png' }));
  assertError(res, 415, 'unsupported_media_type');
});

test('U1: a.php.jpg holding JPEG bytes is stored and served as image/jpeg', T, async () => {
  const c = api();
  const m = await c.create(JPEG_3x2, { filename: 'a.php.jpg', contentType: 'application/x-php' });
  assertMedia(m, c.base, { mime_type: 'image/jpeg', filename: 'a.php.jpg' });
  const file = await c.get(m.url);
  assert.equal(file.status, 200);
  assert.equal(file.headers.get('content-type'), 'image/jpeg');
});

test('U1: a PNG sent as image/gif named x.gif is stored and served as image/png', T, async () => {
  const c = api();
  const m = await c.create(PNG_1x1, { filename: 'x.gif', contentType: 'image/gif' });
  assert.equal(m.mime_type, 'image/png', 'the stored type is the sniffed one, not the client header');
  const file = await c.get(m.url);
  assert.equal(file.headers.get('content-type'), 'image/png');
});

test('U2: a file of exactly MEDIALIB_MAX_UPLOAD bytes is accepted', T, async () => {
  const data = pngOfExactly(LIMIT);
  const m = await api().create(data, { filename: 'limit.png' });
  assert.equal(m.size, LIMIT);
  assert.equal(m.sha256, sha256(data));
});

test('U2: multipart upload one byte over the limit → 413 payload_too_large, temp file removed', T, async () => {
  const { body, contentType } = multipart([{ name: 'file', filename: 'over.png', contentType: 'image/png', data: pngOfExactly(LIMIT + 1) }]);
  const send = () => sendRaw('POST', '/api/media/', { 'Content-Type': contentType, 'Content-Length': body.length }, [body]);
  const res = await refusedWithoutResidue(send);
  assertError(res, 413, 'payload_too_large');
});

test('U2: raw PUT with Content-Length one byte over → 413 before the body is sent', T, async () => {
  const m = await api().create(PNG_1x1, { filename: 'keep.png' });
  const head = rawHead(S.srv.port, 'PUT', `/api/media/${m.id}/file`, { 'Content-Type': 'image/png', 'Content-Length': LIMIT + 1 });
  // Only the head is sent: a server that waits for the body never answers.
  const res = await refusedWithoutResidue(() => rawRequest(S.srv.port, head, { timeout: 5000 * SLOW }));
  assert.ok(!res.timedOut, 'the server answered without waiting for the body');
  assertError(res, 413, 'payload_too_large');
  const after = await api().getMedia(m.id);
  assert.equal(after.version, 1, 'the media was not replaced');
  assert.equal(after.sha256, m.sha256);
});

test('U2: multipart POST declaring a 64 MiB Content-Length → 413 before the body is sent', T, async () => {
  const head = rawHead(S.srv.port, 'POST', '/api/media/', { 'Content-Type': 'multipart/form-data; boundary=xyz', 'Content-Length': 64 << 20 });
  const res = await refusedWithoutResidue(() => rawRequest(S.srv.port, head, { timeout: 5000 * SLOW }));
  assert.ok(!res.timedOut, 'the server answered without waiting for the body');
  assertError(res, 413, 'payload_too_large');
});

/** Sends a head then body frames over a raw socket, tolerating an early answer and close. */
function sendRaw(method, target, headers, frames) {
  const head = rawHead(S.srv.port, method, target, headers);
  return rawRequest(
    S.srv.port,
    async (sock) => {
      sock.write(head);
      await pump(sock, frames);
    },
    { timeout: 20_000 * SLOW },
  );
}

/** Sends `body` chunked (no Content-Length). */
const sendChunked = (method, target, contentType, body) =>
  sendRaw(method, target, { 'Content-Type': contentType, 'Transfer-Encoding': 'chunked' }, chunkedFrames(body));

test('U2: chunked multipart upload over the limit → 413, temp file removed', T, async () => {
  const { body, contentType } = multipart([{ name: 'file', filename: 'chunked.png', contentType: 'image/png', data: pngOfExactly(LIMIT + (512 << 10)) }]);
  const res = await refusedWithoutResidue(() => sendChunked('POST', '/api/media/', contentType, body));
  assertError(res, 413, 'payload_too_large');
});

test('U2: chunked raw PUT over the limit → 413, the media keeps its file', T, async () => {
  const m = await api().create(PNG_1x1, { filename: 'keep2.png' });
  const res = await refusedWithoutResidue(() => sendChunked('PUT', `/api/media/${m.id}/file`, 'image/png', pngOfExactly(LIMIT + (512 << 10))));
  assertError(res, 413, 'payload_too_large');
  assert.equal((await api().getMedia(m.id)).version, 1);
});

test('U2: chunked upload under the limit is accepted', T, async () => {
  const data = makePng(16, 16);
  const { body, contentType } = multipart([{ name: 'file', filename: 'chunked-ok.png', contentType: 'image/png', data }]);
  const res = await sendChunked('POST', '/api/media/', contentType, body);
  assert.equal(res.status, 201, res.text.slice(0, 500));
  assert.equal(res.json.sha256, sha256(data));
});

// ---- U3: hostile filenames ----------------------------------------------

const TOK = crypto.randomBytes(6).toString('hex');
const utf8Bytes = (s) => Buffer.byteLength(s, 'utf8');

/** Invariants of every cleaned filename. */
function assertCleanName(name) {
  assert.equal(typeof name, 'string');
  assert.ok(name.length > 0, 'filename is not empty');
  assert.ok(utf8Bytes(name) <= 255, `filename is at most 255 bytes (${utf8Bytes(name)})`);
  assert.doesNotMatch(name, /[/\\"\x00-\x1f\x7f]/, `filename has no separators, quotes or control characters: ${JSON.stringify(name)}`);
  assert.ok(!name.includes('\ufffd'), 'filename is valid UTF-8');
  assert.notEqual(name, '..');
}

const U3_CASES = [
  { what: '../../x', part: { filename: `../../${TOK}.png` }, expect: `${TOK}.png` },
  { what: '..\\x', part: { filename: `..\\${TOK}.png` }, expect: `${TOK}.png` },
  { what: 'an absolute path', part: { filename: `/etc/${TOK}.png` }, expect: `${TOK}.png` },
  { what: 'an encoded NUL byte', part: { filenameStar: `evil.php%00${TOK}.png` } },
  // A raw NUL in a part header may also be refused as a malformed header (RFC 9110 5.5).
  { what: 'a raw NUL byte', part: { filename: Buffer.from(`evil.php\0${TOK}.png`, 'latin1') }, mayRefuse: true },
  { what: 'CR LF (header injection)', part: { filenameStar: encodeURIComponent(`a\r\nX-Injected: 1\r\n${TOK}.png`) } },
  { what: 'double and single quotes', part: { filename: `q"uo'te${TOK}.png` } },
  { what: '1,000 ASCII characters', part: { filename: `${'n'.repeat(996)}.png` }, suffix: '.png' },
  { what: '1,000 two-byte characters', part: { filename: `${'é'.repeat(996)}.png` }, suffix: '.png' },
  { what: 'percent-encoded ../', part: { filename: `%2e%2e%2f%2e%2e%2f${TOK}.png` }, contains: TOK },
  { what: 'double-encoded ../', part: { filename: `%252e%252e%252f${TOK}.png` }, contains: TOK },
  { what: 'non-ASCII UTF-8', part: { filenameStar: encodeURIComponent(`été ${TOK}.png`) }, expect: `été ${TOK}.png` },
];

for (const c of U3_CASES) {
  test(`U3: filename with ${c.what} → 201, cleaned name, RFC 6266 filename* on delivery`, T, async () => {
    const a = api();
    const data = makePng(2, 2);
    const { body, contentType } = multipart([{ name: 'file', contentType: 'image/png', data, ...c.part }]);
    const res = await a.call('POST', '/api/media/', { headers: { 'content-type': contentType }, body });
    if (c.mayRefuse && res.status === 400) return void assertError(res, 400);
    assert.equal(res.status, 201, res.text.slice(0, 500));
    const m = res.json;
    assertMedia(m, a.base, { mime_type: 'image/png', sha256: sha256(data) });
    assertCleanName(m.filename);
    if (c.expect) assert.equal(m.filename, c.expect);
    if (c.suffix) assert.ok(m.filename.endsWith(c.suffix), `the extension is kept: ${m.filename}`);
    if (c.contains) assert.ok(m.filename.includes(c.contains), m.filename);

    const file = await a.get(m.url);
    assert.equal(file.status, 200, `GET ${m.url}`);
    assert.ok(file.body.equals(data));
    assert.equal(file.headers.get('content-type'), 'image/png');
    assert.equal(file.headers.get('x-injected'), null, 'no header was injected');
    assert.equal(dispositionFilename(file.headers.get('content-disposition')), m.filename, 'filename* carries the cleaned name');
  });
}

test('U3: nothing was written outside the data dir and no path uses a client filename', T, async () => {
  const { root, dataDir } = S.srv;
  for (const f of await walkDir(root)) {
    assert.ok(f.startsWith(`${path.basename(dataDir)}/`) || /^server-\d+\.log$/.test(f), `unexpected file outside the data dir: ${f}`);
  }
  for (const f of await walkDir(dataDir)) assert.ok(!f.includes(TOK), `a stored path uses the client's name: ${f}`);
  for (const dir of [root, path.dirname(root), os.tmpdir(), '/', path.join(dataDir, 'blobs'), path.join(dataDir, 'blobs', 'm')]) {
    assert.ok(!fs.existsSync(path.join(dir, `${TOK}.png`)), `${dir}/${TOK}.png must not exist`);
  }
});

// ---- validation ----------------------------------------------------------

test('a title of 255 characters is accepted, 256 → 400 validation_failed naming title', T, async () => {
  const c = api();
  const ok = await c.create(PNG_1x1, { fields: { title: 't'.repeat(255) } });
  assert.equal(ok.title, 't'.repeat(255));
  const res = await refusedWithoutResidue(() => c.upload(PNG_1x1, { fields: { title: 't'.repeat(256) } }));
  assertFieldError(res, 'title');
});

test('a multipart body without a file part → 400 validation_failed naming file', T, async () => {
  const { body, contentType } = multipart([{ name: 'title', value: 'no file here' }]);
  const res = await refusedWithoutResidue(() => api().call('POST', '/api/media/', { headers: { 'content-type': contentType }, body }));
  assertFieldError(res, 'file');
});

test('a JSON (non-multipart) POST → 415 or 400 with a JSON error', T, async () => {
  const res = await refusedWithoutResidue(() => api().json('POST', '/api/media/', { title: 'x', file: 'aGVsbG8=' }));
  assertError(res, [415, 400], ['unsupported_media_type', 'bad_request', 'validation_failed']);
});

test('a multipart body without its final boundary → 400, nothing stored', T, async () => {
  const data = makePng(8, 8);
  const { body, contentType } = multipart([{ name: 'title', value: 'truncated' }, { name: 'file', filename: 'cut.png', contentType: 'image/png', data }]);
  const cut = body.subarray(0, body.length - 20); // drops the closing "--boundary--"
  const res = await refusedWithoutResidue(() => api().call('POST', '/api/media/', { headers: { 'content-type': contentType }, body: cut }));
  assertError(res, 400);
});

test('a multipart Content-Type without a boundary → 400 JSON error', T, async () => {
  const res = await refusedWithoutResidue(() => api().call('POST', '/api/media/', { headers: { 'content-type': 'multipart/form-data' }, body: 'x' }));
  assertError(res, [400, 415], ['bad_request', 'validation_failed', 'unsupported_media_type']);
});
