// Malformed and hostile HTTP over raw sockets: H2 (sizes), H3 (smuggling
// shapes), H1 (slow clients: header deadline, minimum body rate).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertNoResidue, client, dataFiles } from './lib/api.mjs';
import { drip, pump, rawHead, rawRequest, sleep } from './lib/http.mjs';
import { SLOW, useServer } from './lib/server.mjs';

const HEADER_TIMEOUT = 2;
const S = useServer({ env: { MEDIALIB_HEADER_TIMEOUT: String(HEADER_TIMEOUT), MEDIALIB_MIN_BODY_RATE: '1024' } });
const T = { timeout: 30_000 * SLOW };
const host = () => `Host: 127.0.0.1:${S.srv.port}\r\n`;

async function assertHealthy() {
  const res = await client(S.srv).get('/healthz', { timeout: 5000 * SLOW });
  assert.equal(res.status, 200, 'the server still answers /healthz');
}

/** `n` bytes of `c`, as 64 KiB Buffers. */
function* filler(n, c = 'a') {
  const piece = Buffer.alloc(64 << 10, c);
  for (let sent = 0; sent < n; sent += piece.length) yield piece.subarray(0, Math.min(piece.length, n - sent));
}

/** Sends `head` then streams `n` filler bytes as fast as the server reads them. */
const flood = (head, n, opts = {}) =>
  rawRequest(
    S.srv.port,
    async (sock) => {
      sock.write(head);
      await pump(sock, filler(n));
    },
    { timeout: 10_000 * SLOW, ...opts },
  );

/** The server refused: one of `statuses`, and the connection closed. */
function assertRefused(res, statuses) {
  assert.ok(!res.timedOut, `answered within the timeout (got ${res.text.slice(0, 120)})`);
  assert.ok(statuses.includes(res.status), `status ${statuses.join('/')}, got ${res.status}: ${res.text.slice(0, 200)}`);
}

test('H2: a request line over 32 KiB → 414 (or 431/400), answered promptly', T, async () => {
  const res = await rawRequest(S.srv.port, `GET /${'a'.repeat(40_000)} HTTP/1.1\r\n${host()}\r\n`);
  assertRefused(res, [414, 431, 400]);
  await assertHealthy();
});

test('H2: one header field of 40 KiB → 431', T, async () => {
  const res = await rawRequest(S.srv.port, `GET /healthz HTTP/1.1\r\n${host()}X-Big: ${'b'.repeat(40_000)}\r\n\r\n`);
  assertRefused(res, [431]);
  await assertHealthy();
});

test('H2: 5,000 header fields → 431', T, async () => {
  const many = Array.from({ length: 5000 }, (_, i) => `X-H${i}: v\r\n`).join('');
  const res = await rawRequest(S.srv.port, `GET /healthz HTTP/1.1\r\n${host()}${many}\r\n`);
  assertRefused(res, [431]);
  await assertHealthy();
});

test('H2: 32 connections each sending a 4 MiB header line → refused, server memory stays bounded', { timeout: 60_000 * SLOW }, async () => {
  const before = S.srv.rssKiB().rss;
  const results = await Promise.all(Array.from({ length: 32 }, () => flood(`GET /healthz HTTP/1.1\r\n${host()}X-Flood: `, 4 << 20)));
  for (const r of results) {
    assert.ok(r.closed || [431, 414, 400].includes(r.status), `refused or closed, got ${r.status} timedOut=${r.timedOut}`);
  }
  const grown = S.srv.rssKiB().rss - before;
  assert.ok(grown < 64 * 1024, `RSS grew by ${grown} KiB for 128 MiB of header bytes`);
  await assertHealthy();
});

// H3: each shape is followed by a pipelined GET /healthz: the server must
// answer the first with 400 (or nothing) and close, never answer a smuggled request.
const SMUGGLING = [
  ['Content-Length together with Transfer-Encoding', (h) => `GET /healthz HTTP/1.1\r\n${h}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['two different Content-Lengths', (h) => `GET /healthz HTTP/1.1\r\n${h}Content-Length: 0\r\nContent-Length: 7\r\n\r\n`],
  ['a chunk size that is not hex', (h) => `POST /api/media/ HTTP/1.1\r\n${h}Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`],
  ['a chunk size overflowing 64 bits', (h) => `POST /api/media/ HTTP/1.1\r\n${h}Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff0\r\nhello\r\n0\r\n\r\n`, [400, 413]],
  ['obs-fold in a framing header', (h) => `POST /api/media/ HTTP/1.1\r\n${h}Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n x\r\n\r\n0\r\n\r\n`],
  // libmicrohttpd 0.9.75 merges an obs-fold continuation into the header's
  // name, so a folded ordinary header cannot be detected: a known gap until
  // the server runs on libmicrohttpd 1.0 (issue note), kept visible as a todo.
  ['obs-fold (a header continued on the next line)', (h) => `GET /healthz HTTP/1.1\r\n${h}X-Folded: one\r\n two\r\n\r\n`, [400],
    'libmicrohttpd 0.9.75 folds the continuation into the header name; undetectable here'],
];
for (const [what, make, statuses = [400], todo] of SMUGGLING) {
  test(`H3: ${what} → ${statuses.join('/')} (or no answer) and the connection closed; the server stays up`, { ...T, todo }, async () => {
    const res = await rawRequest(S.srv.port, `${make(host())}GET /healthz HTTP/1.1\r\n${host()}\r\n`, { waitClose: 3000 * SLOW });
    assert.ok(statuses.includes(res.status) || res.status === null, `${statuses.join('/')} or no answer, got ${res.status}: ${res.text.slice(0, 200)}`);
    assert.ok(res.closed, 'the connection is closed after the refusal');
    assert.ok(!/HTTP\/1\.1 200/.test(res.text), 'the pipelined request was not answered');
    await assertHealthy();
  });
}

test('H1: a client dripping its headers is closed by the header deadline', T, async () => {
  const head = `GET /healthz HTTP/1.1\r\n${host()}X-Slow: ${'s'.repeat(200)}\r\n\r\n`;
  const res = await rawRequest(S.srv.port, (sock) => drip(sock, head, { step: 1, intervalMs: 200 }), { timeout: 20_000 * SLOW });
  assert.ok(res.closed, 'the server closed the connection');
  assert.notEqual(res.status, 200, 'the slow request was not served');
  assert.ok(res.ms < (HEADER_TIMEOUT + 4) * 1000 * SLOW, `closed after ${res.ms} ms (header timeout ${HEADER_TIMEOUT} s)`);
  assert.ok(res.ms >= 1500, `not refused at once for another reason (${res.ms} ms, ${res.text.slice(0, 120)})`);
});

test('H1: a body slower than MEDIALIB_MIN_BODY_RATE is cut off and leaves no temp file', T, async () => {
  const before = await dataFiles(S.srv.dataDir);
  const boundary = 'slowbody';
  const head = rawHead(S.srv.port, 'POST', '/api/media/', { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': 100_000 });
  const partHead = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.png"\r\nContent-Type: image/png\r\n\r\n`;
  const res = await rawRequest(
    S.srv.port,
    async (sock) => {
      sock.write(head + partHead);
      await drip(sock, Buffer.alloc(20_000, 'x'), { step: 10, intervalMs: 250 }); // 40 B/s
    },
    { timeout: 25_000 * SLOW },
  );
  assert.ok(res.closed, 'the server closed the connection');
  assert.notEqual(res.status, 201);
  assert.ok(res.ms < (HEADER_TIMEOUT + 8) * 1000 * SLOW, `cut off after ${res.ms} ms`);
  assert.ok(res.ms >= 1500, `not refused at once for another reason (${res.ms} ms, ${res.text.slice(0, 120)})`);
  await assertNoResidue(S.srv.dataDir, before);
});

test('H1: legitimate requests are served while 50 slow connections are open, and those get closed', { timeout: 60_000 * SLOW }, async () => {
  const slow = Array.from({ length: 50 }, () =>
    rawRequest(S.srv.port, (sock) => drip(sock, `GET /healthz HTTP/1.1\r\n${host()}X-Slow: ${'s'.repeat(400)}\r\n\r\n`, { intervalMs: 100 }), { timeout: 30_000 * SLOW }),
  );
  await sleep(300);
  const c = client(S.srv);
  for (let i = 0; i < 10; i++) {
    const t0 = Date.now();
    const res = await c.get(i % 2 ? '/healthz' : '/api/media/', { timeout: 5000 * SLOW });
    assert.equal(res.status, 200);
    assert.ok(Date.now() - t0 < 1000 * SLOW, `request ${i} served in ${Date.now() - t0} ms`);
  }
  const results = await Promise.all(slow);
  for (const r of results) {
    assert.ok(r.closed, 'each slow connection is closed by the server');
    assert.ok(r.ms < (HEADER_TIMEOUT + 4) * 1000 * SLOW, `closed after ${r.ms} ms`);
  }
});
