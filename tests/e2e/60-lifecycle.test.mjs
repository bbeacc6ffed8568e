// The user story end to end, and a graceful shutdown with an upload in flight.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertError, assertMedia, assertNoResidue, assertRedirect, blobsOf, client, dataFiles } from './lib/api.mjs';
import { makePng, sha256 } from './lib/files.mjs';
import { hashedGet, multipartFrame, sleep, streamRequest } from './lib/http.mjs';
import { SLOW, startServer, useServer } from './lib/server.mjs';

const S = useServer();

test('upload → listed → served → replaced (new URL, old redirects) → deleted (row and files gone)', { timeout: 60_000 * SLOW }, async () => {
  const c = client(S.srv);
  const baseline = await dataFiles(S.srv.dataDir);
  const v1 = makePng(32, 24);
  const v2 = makePng(24, 32);

  const m = await c.create(v1, { filename: 'story.png', fields: { title: 'A story', tags: 'story' } });
  assertMedia(m, c.base, { version: 1, title: 'A story', tags: ['story'] });

  const listed = await c.get('/api/media/?q=story');
  assert.equal(listed.json.count, 1);
  assert.deepEqual(listed.json.results[0], m, 'the list shows the new media');

  const served = await c.get(m.url);
  assert.equal(served.status, 200);
  assert.ok(served.body.equals(v1));
  assert.equal(served.headers.get('content-type'), 'image/png');
  assert.equal(served.headers.get('cache-control'), 'public, max-age=31536000, immutable');

  const rep = await c.call('PUT', `/api/media/${m.id}/file`, { headers: { 'content-type': 'image/png' }, body: v2 });
  assert.equal(rep.status, 200, rep.text);
  const r = rep.json;
  assertMedia(r, c.base, { id: m.id, version: 2, sha256: sha256(v2) });
  assert.notEqual(r.url, m.url, 'a replaced file gets a new URL');
  assert.ok((await c.get(r.url)).body.equals(v2));
  assertRedirect(await c.get(m.url), c.base, r.url);
  assert.deepEqual((await c.get('/api/media/?q=story')).json.results[0], r, 'the list shows the new version');

  const del = await c.del(`/api/media/${m.id}/`);
  assert.equal(del.status, 200, del.text);
  assert.equal(del.json.storage.status, 'deleted');
  assert.equal((await c.get('/api/media/?q=story')).json.count, 0);
  assertError(await c.get(`/api/media/${m.id}/`), 404, 'not_found');
  assertError(await c.get(r.url), 404, 'not_found');
  assert.notEqual((await c.get(m.url)).status, 200, 'the old URL no longer serves bytes');
  assert.deepEqual(await blobsOf(S.srv.dataDir, m.id), []);
  await assertNoResidue(S.srv.dataDir, baseline, { within: 5000 });
});

test('SIGTERM during a slow upload: the upload completes (or is refused cleanly) and the process exits 0', { timeout: 90_000 * SLOW }, async (t) => {
  const srv = await startServer();
  let restarted = null;
  try {
    const c = client(srv);
    const before = await dataFiles(srv.dataDir);
    const data = makePng(300, 300); // ~270 KB
    const half = data.length >> 1;
    const frame = multipartFrame({ filename: 'inflight.png', contentType: 'image/png', fields: { title: 'in flight' } });
    async function* body() {
      yield frame.head;
      yield data.subarray(0, half);
      await sleep(300);
      srv.signal('SIGTERM');
      await sleep(1000);
      yield data.subarray(half);
      yield frame.tail;
    }
    const res = await streamRequest(`${c.base}/api/media/`, {
      headers: { 'content-type': frame.contentType, 'content-length': frame.head.length + data.length + frame.tail.length },
      body: body(),
      timeout: 30_000 * SLOW,
    });
    assert.ok(res.status === 201 || res.status === 503, `201 or a clean 503, got ${res.status}: ${res.text.slice(0, 300)}`);
    t.diagnostic(`the in-flight upload was answered ${res.status}`);
    if (res.status === 503) assertError(res, 503);
    await srv.stop({ signal: null, keepData: true }); // asserts exit code 0

    restarted = await startServer({ dataDir: srv.dataDir });
    const c2 = client(restarted);
    if (res.status === 201) {
      const m = await c2.getMedia(res.json.id);
      assert.equal(m.sha256, sha256(data), 'the completed upload survived the restart');
      const file = await hashedGet(m.url);
      assert.equal(file.sha256, sha256(data));
      const extra = [...(await dataFiles(srv.dataDir))].filter((p) => !before.has(p));
      for (const p of extra) assert.ok(p.startsWith(`blobs/m/${m.id}/`), `only the new media's blob was added, found ${p}`);
    } else {
      assert.equal(await c2.count(), 0);
      await assertNoResidue(srv.dataDir, before);
    }
  } catch (e) {
    srv.printLogs(0, 'SIGTERM test failed');
    restarted?.printLogs(0, 'SIGTERM test failed (restarted server)');
    throw e;
  } finally {
    if (srv.isRunning()) await srv.stop().catch(() => {});
    if (restarted) await restarted.stop();
  }
});

test('uploads aborted mid-body end at once: every one is logged as aborted, no spool file stays, and SIGTERM exits within seconds', { timeout: 60_000 * SLOW }, async () => {
  const http = await import('node:http');
  const srv = await startServer();
  const before = await dataFiles(srv.dataDir);
  const mark = srv.logMark();
  const N = 30;
  for (let i = 0; i < N; i++) {
    // A client that gives up after the first 32 KiB of a 3 MB body.
    const req = http.request(`${srv.baseUrl}/api/media/`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'multipart/form-data; boundary=xx', 'content-length': 3_000_000 },
    });
    req.on('error', () => {});
    await new Promise((r) => req.write(Buffer.alloc(32 * 1024, 0x41), r));
    req.destroy();
  }
  const ended = () => srv.logs(mark).split('\n').filter((l) => l.includes('"route":"media.create"') && l.includes('"aborted":true')).length;
  const deadline = Date.now() + 3000 * SLOW;
  while (ended() < N && Date.now() < deadline) await sleep(50);
  assert.equal(ended(), N, 'every aborted upload ended (none left waiting in CLOSE-WAIT for the idle timeout)');
  await assertNoResidue(srv.dataDir, before);
  const t0 = Date.now();
  await srv.stop({ timeout: 5000 * SLOW });
  assert.ok(Date.now() - t0 < 5000 * SLOW, 'no request was left in flight to wait for');
});
