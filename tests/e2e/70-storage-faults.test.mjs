// S rows of TESTING.md: the store refusing, failing, stalling; disk full; an
// unwritable spool. Nothing is reported deleted while stored, nothing is
// left behind, and fsck finds 0 orphans and 0 missing blobs after each.
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';

import { assertError, blobsOf, client, dataFiles, eventually, assertNoResidue } from './lib/api.mjs';
import { assertClean, faultFile, hasFaultHooks } from './lib/faults.mjs';
import { PNG_1x1, makePngOfSize } from './lib/files.mjs';
import { SLOW, startServer, walkDir } from './lib/server.mjs';
import { spoolDir, storeKeys } from './lib/store.mjs';

const skip = hasFaultHooks() ? false : 'needs a test build (MEDIALIB_TEST_FAULTS)';
const T = { timeout: 120_000 * SLOW, skip };

async function withFaultyServer(env, fn) {
  const srv0 = { root: null };
  const root = await fsp.mkdtemp(path.join((await import('node:os')).tmpdir(), 'medialib-faults-'));
  srv0.root = root;
  const faults = await faultFile(root);
  const srv = await startServer({ dataDir: path.join(root, 'data'), env: { ...faults.env, ...env } });
  try {
    await fn(srv, client(srv), faults);
  } catch (e) {
    srv.printLogs(0, 'test failed');
    await srv.stop().catch(() => {});
    throw e;
  }
  await srv.stop();
}

test('S1: the store refusing connections during upload → 503 storage_unavailable, no residue', T, async () => {
  await withFaultyServer({}, async (srv, c, faults) => {
    const before = await dataFiles(srv.dataDir);
    await faults.set('put=refuse');
    const res = await c.upload(PNG_1x1);
    assertError(res, 503, 'storage_unavailable');
    assert.equal(await c.count(), 0, 'nothing listed');
    await assertNoResidue(srv.dataDir, before);
    await faults.clear();
    const m = await c.create(PNG_1x1);
    assert.equal(m.version, 1);
    assertClean(srv.dataDir);
  });
});

test('S3: the store answering 500 on one put → the upload fails cleanly, a retry stores exactly one object', T, async () => {
  await withFaultyServer({}, async (srv, c, faults) => {
    await faults.set('put=nth:1');
    assertError(await c.upload(PNG_1x1), [500, 503], ['io_error', 'storage_unavailable', 'internal']);
    const m = await c.create(PNG_1x1);
    assert.deepEqual((await blobsOf(srv.dataDir, m.id)).length, 1, 'exactly one object for the media');
    const all = await storeKeys(srv.dataDir);
    assert.equal(all.length, 1, `exactly one object in the store: ${all}`);
    assertClean(srv.dataDir);
  });
});

test('S5: store refusing removals during 200 deletes → every answer pending, records gone, blobs removed within 3 s of recovery', T, async () => {
  await withFaultyServer({ MEDIALIB_DELETE_DEADLINE_MS: '200' }, async (srv, c, faults) => {
    const ids = [];
    for (let i = 0; i < 200; i++) ids.push((await c.create(PNG_1x1, { filename: `p${i}.png` })).id);
    await faults.set('remove=refuse');
    const results = [];
    for (let i = 0; i < ids.length; i += 10) {
      results.push(...(await Promise.all(ids.slice(i, i + 10).map((id) => c.del(`/api/media/${id}/`)))));
    }
    for (const res of results) {
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.deleted, true);
      assert.equal(res.json.storage.status, 'pending', `never "deleted" while stored: ${res.text}`);
      assert.ok(res.json.storage.attempts >= 1);
      assert.match(res.json.storage.last_error, /refused/);
    }
    assert.equal(await c.count(), 0, 'every record is gone');
    assert.equal((await c.get(`/api/media/${ids[0]}/`)).status, 404);
    const stored = await storeKeys(srv.dataDir, 'm/');
    assert.equal(stored.length, 200, 'the blobs are still stored while the store refuses');
    const metrics = (await c.get('/metrics')).text;
    assert.match(metrics, /medialib_outbox_depth 200/);
    const t0 = Date.now();
    await faults.clear();
    const gone = await eventually(async () => (await storeKeys(srv.dataDir, 'm/')).length === 0, { within: 3000 });
    assert.ok(gone, 'every blob removed within 3 s of recovery');
    process.stdout.write(`# S5: 200 blobs removed ${Date.now() - t0} ms after the store recovered\n`);
    assert.match((await c.get('/metrics')).text, /medialib_outbox_depth 0/);
    assertClean(srv.dataDir);
  });
});

test('S2: a store stalling past the deadline → DELETE answers pending within the deadline, then finishes', T, async () => {
  await withFaultyServer({ MEDIALIB_DELETE_DEADLINE_MS: '500' }, async (srv, c, faults) => {
    const m = await c.create(PNG_1x1);
    await faults.set('remove=delay:3000');
    const t0 = Date.now();
    const res = await c.del(`/api/media/${m.id}/`);
    const ms = Date.now() - t0;
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.storage.status, 'pending');
    assert.ok(ms < 1500 * SLOW, `answered after ${ms} ms with a 500 ms deadline`);
    await faults.clear();
    assert.ok(await eventually(async () => (await blobsOf(srv.dataDir, m.id)).length === 0, { within: 8000 }), 'the stalled removal finished');
    assertClean(srv.dataDir);
  });
});

test('S3: removals failing once then succeeding → deleted after retry, exactly one removal needed', T, async () => {
  await withFaultyServer({ MEDIALIB_DELETE_DEADLINE_MS: '2000' }, async (srv, c, faults) => {
    const m = await c.create(PNG_1x1);
    await faults.set('remove=nth:1');
    const res = await c.del(`/api/media/${m.id}/`);
    assert.equal(res.json.storage.status, 'deleted', `retried within the deadline: ${res.text}`);
    assert.ok(res.json.storage.attempts >= 2, res.text);
    assert.equal((await blobsOf(srv.dataDir, m.id)).length, 0);
    assertClean(srv.dataDir);
  });
});

test('S6: an unwritable spool directory → 503 JSON error, nothing stored, database intact', T, async () => {
  await withFaultyServer({}, async (srv, c) => {
    const m = await c.create(PNG_1x1);
    const spool = spoolDir(srv.dataDir);
    await fsp.rm(spool, { recursive: true });
    await fsp.writeFile(spool, 'not a directory'); // even root cannot create files in it
    try {
      const res = await c.upload(PNG_1x1);
      assertError(res, [503, 507], ['storage_unavailable', 'insufficient_storage']);
      assert.equal(await c.count(), 1, 'the database still lists the earlier media');
      assert.equal((await c.get(new URL(m.url).pathname)).status, 200, 'the earlier file is still served');
    } finally {
      await fsp.rm(spool);
      await fsp.mkdir(spool);
    }
    assert.equal((await c.create(PNG_1x1)).version, 1, 'uploads work again once the spool is back');
    assertClean(srv.dataDir);
  });
});

test('S6: disk full (a 4 MiB tmpfs for the blobs) → 507 insufficient_storage, no partial file, database intact', { ...T, skip: skip || (process.getuid?.() !== 0 ? 'needs root to mount a tmpfs' : false) }, async (t) => {
  const { execFileSync } = await import('node:child_process');
  const root = await fsp.mkdtemp(path.join((await import('node:os')).tmpdir(), 'medialib-full-'));
  const blobs = path.join(root, 'blobs');
  await fsp.mkdir(blobs);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', blobs], { stdio: 'ignore' });
  } catch {
    t.skip('cannot mount a tmpfs here');
    return;
  }
  try {
    const srv = await startServer({ dataDir: path.join(root, 'data'), env: { MEDIALIB_STORAGE_URL: `file://${blobs}` } });
    try {
      const c = client(srv);
      const small = await c.create(PNG_1x1);
      const res = await c.upload(makePngOfSize(6 << 20), { filename: 'huge.png' });
      assertError(res, 507, 'insufficient_storage');
      const left = (await walkDir(blobs)).filter((p) => !p.startsWith(`m/${small.id}/`));
      assert.deepEqual(left, [], 'no partial file in the store or its spool');
      assert.equal(await c.count(), 1, 'database intact');
      assert.equal((await c.get(new URL(small.url).pathname)).status, 200);
      assert.equal((await c.create(PNG_1x1)).version, 1, 'small uploads still work');
    } finally {
      await srv.stop({ keepData: true });
    }
  } finally {
    execFileSync('umount', [blobs]);
    await fsp.rm(root, { recursive: true, force: true });
  }
});

test('/readyz answers 503 while the store is unreachable and 200 after; /metrics shows requests, durations, bytes and the outbox', T, async () => {
  await withFaultyServer({ MEDIALIB_DELETE_DEADLINE_MS: '100' }, async (srv, c, faults) => {
    assert.equal((await c.get('/healthz')).status, 200);
    const ready = await c.get('/readyz');
    assert.equal(ready.status, 200, ready.text);
    assert.equal(ready.json.status, 'ok');
    await faults.set('ping=refuse');
    const down = await c.get('/readyz');
    assert.equal(down.status, 503, down.text);
    assert.equal(down.json.storage, 'storage_unavailable');
    assert.equal((await c.get('/healthz')).status, 200, 'liveness does not depend on the store');
    await faults.set('remove=refuse');
    const m = await c.create(PNG_1x1);
    assert.equal((await c.del(`/api/media/${m.id}/`)).json.storage.status, 'pending');
    const metrics = await c.get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type'), /^text\/plain/);
    const text = metrics.text;
    assert.match(text, /medialib_http_requests_total\{route="media\.create",status="201"\} 1/);
    assert.match(text, /medialib_http_requests_total\{route="ops\.readyz",status="503"\} 1/);
    assert.match(text, /medialib_http_request_duration_seconds_bucket\{route="media\.create",le="\+Inf"\} 1/);
    assert.match(text, /medialib_http_bytes_received_total [1-9]/);
    assert.match(text, /medialib_outbox_jobs\{kind="remove_blob"\} 1/);
    assert.match(text, /medialib_outbox_jobs_failing\{kind="remove_blob"\} 1/);
    assert.match(text, /medialib_job_failures_total [1-9]/);
    assert.match(text, /medialib_outbox_oldest_age_seconds \d/);
    await faults.clear();
    assert.equal((await c.get('/readyz')).status, 200);
    assert.ok(await eventually(async () => /medialib_outbox_depth 0/.test((await c.get('/metrics')).text), { within: 5000 }));
  });
});
