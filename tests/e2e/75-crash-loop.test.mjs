// S4 of TESTING.md: kill -9 at random points of uploads, replaces and
// deletes (random delays, and fault points before and after each store
// write and removal). After every restart fsck finds 0 orphans and 0
// missing blobs, each media is wholly old or wholly new, and every upload
// that was acknowledged is intact. Prints the figures at the end.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { client } from './lib/api.mjs';
import { assertClean, faultFile, fsck, hasFaultHooks } from './lib/faults.mjs';
import { makePng, sha256 } from './lib/files.mjs';
import { sleep } from './lib/http.mjs';
import { SLOW, startServer, walkDir } from './lib/server.mjs';
import { spoolDir } from './lib/store.mjs';

const TRIALS = Number(process.env.MEDIALIB_CRASH_TRIALS || 200);
const skip = hasFaultHooks() ? false : 'needs a test build (MEDIALIB_TEST_FAULTS)';
const POINTS = ['put=crash:before', 'put=crash:after', 'remove=crash:before', 'remove=crash:after', 'kill', 'kill', 'none'];

// Distinct, valid PNGs so every version has its own hash.
const uniquePng = () => makePng(1 + crypto.randomInt(8), 1 + crypto.randomInt(8), { color: [crypto.randomInt(256), crypto.randomInt(256), crypto.randomInt(256)] });

test(`S4: ${TRIALS} crash trials during upload, replace and delete → 0 orphans, 0 missing, 0 lost acknowledged uploads`, { timeout: 900_000 * SLOW, skip }, async () => {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'medialib-crash-'));
  const dataDir = path.join(root, 'data');
  const faults = await faultFile(root);
  const env = { ...faults.env, MEDIALIB_INTENT_DELAY_MS: '1000', MEDIALIB_DELETE_DEADLINE_MS: '300', MEDIALIB_LOG: 'warn',
    // Eager thumbnails: renders, their intents and their blobs crash too. A
    // killed runner's claimed jobs wait out their lease: keep it short.
    MEDIALIB_EAGER_PRESETS: 'thumbnail', MEDIALIB_JOB_LEASE_MS: '2000' };
  // id -> {versions: Map(version -> sha256), state: 'live'|'maybe'|'deleted'|'maybe-deleted'}
  const known = new Map();
  const stats = { trials: 0, crashed: 0, acknowledged: 0, orphans: 0, missing: 0, lost: 0, torn: 0, spool_left: 0 };
  let srv = await startServer({ dataDir, env });

  async function restart() {
    const info = await Promise.race([srv.exited, sleep(10_000 * SLOW).then(() => null)]);
    if (!info) {
      srv.signal('SIGKILL');
      await srv.exited;
    }
    await faults.clear();
    const rep = fsck(dataDir);
    stats.orphans += rep.orphans;
    stats.missing += rep.missing;
    srv = await startServer({ dataDir, env });
    // A kill mid-body leaves a spool file; the restarted server sweeps it.
    // (The new server's own files, of renders it started at once, are live.)
    const spool = (await walkDir(spoolDir(dataDir)))
      .filter((f) => f.startsWith('up-') && !f.startsWith(`up-${srv.pid}-`));
    stats.spool_left += spool.length;
  }

  try {
    for (let trial = 0; trial < TRIALS; trial++) {
      stats.trials++;
      const c = client(srv);
      const live = [...known].filter(([, k]) => k.state === 'live').map(([id]) => id);
      const op = live.length < 3 ? 'upload' : ['upload', 'replace', 'delete'][crypto.randomInt(3)];
      const point = POINTS[crypto.randomInt(POINTS.length)];
      if (point !== 'kill' && point !== 'none') await faults.set(point);
      const body = uniquePng();
      const id = live[crypto.randomInt(Math.max(live.length, 1))];
      let pending;
      if (op === 'upload') pending = c.upload(body, { filename: `t${trial}.png` });
      else if (op === 'replace') pending = c.call('PUT', `/api/media/${id}/file`, { headers: { 'content-type': 'image/png' }, body });
      else pending = c.del(`/api/media/${id}/`);
      // A background render may hit an armed fault point and crash the
      // server before the request is awaited: handle the rejection now.
      pending.catch(() => {});
      if (point === 'kill') {
        await sleep(crypto.randomInt(15));
        srv.signal('SIGKILL');
      }
      let res = null;
      try {
        res = await pending;
      } catch {
        // the server died mid-request: the outcome is unknown
      }
      const answered = res && res.status < 500 ? res : null;
      if (op === 'upload') {
        if (answered?.status === 201) {
          known.set(answered.json.id, { versions: new Map([[1, sha256(body)]]), state: 'live' });
          stats.acknowledged++;
        }
      } else if (op === 'replace') {
        const k = known.get(id);
        if (answered?.status === 200) {
          k.versions = new Map([[answered.json.version, sha256(body)]]);
          stats.acknowledged++;
        } else {
          const v = Math.max(...k.versions.keys());
          k.versions.set(v + 1, sha256(body)); // wholly old or wholly new
          k.state = 'maybe';
        }
      } else {
        known.get(id).state = answered?.status === 200 ? 'deleted' : 'maybe-deleted';
      }
      const crashed = !srv.isRunning() || point === 'kill' || (!answered && point !== 'none');
      if (crashed) {
        stats.crashed++;
        await restart();
      } else {
        await faults.clear();
      }
      // Settle what the crash left uncertain: each media is wholly one version or gone.
      for (const [mid, k] of known) {
        if (k.state === 'live' || k.state === 'deleted') continue;
        let r;
        for (;;) {
          try {
            r = await client(srv).get(`/api/media/${mid}/`);
            break;
          } catch (e) {
            // A background render hit the fault point armed for this trial
            // after the request was answered: that is a crash too (its exit
            // may reach us a moment after the refused connection).
            await Promise.race([srv.exited, sleep(3000 * SLOW)]);
            if (srv.isRunning()) throw e;
            stats.crashed++;
            await restart();
          }
        }
        if (r.status === 404) {
          assert.notEqual(k.state, 'maybe', `media ${mid} vanished after an unfinished replace`);
          k.state = 'deleted';
          continue;
        }
        assert.equal(r.status, 200, r.text);
        const want = k.versions.get(r.json.version);
        if (!want || want !== r.json.sha256) stats.torn++;
        k.versions = new Map([[r.json.version, r.json.sha256]]);
        k.state = 'live';
      }
    }
    // A fault armed by the last trial may have crashed a background render.
    await sleep(200);
    if (!srv.isRunning()) {
      stats.crashed++;
      await restart();
    }
    // Every acknowledged and surviving media is intact: bytes match the hash.
    const c = client(srv);
    for (const [mid, k] of known) {
      const r = await c.get(`/api/media/${mid}/`);
      if (k.state === 'deleted') {
        assert.equal(r.status, 404, `media ${mid} was deleted`);
        continue;
      }
      if (r.status !== 200) {
        stats.lost++;
        continue;
      }
      const [version, sha] = [...k.versions][0];
      const file = await fetch(r.json.url);
      const bytes = Buffer.from(await file.arrayBuffer());
      if (r.json.version !== version || sha256(bytes) !== sha) stats.lost++;
    }
    // Recovery: intents and pending removals all finish.
    const t0 = Date.now();
    let rep;
    for (;;) {
      rep = fsck(dataDir);
      if (rep.pending === 0 || Date.now() - t0 > 30_000 * SLOW) break;
      await sleep(200);
    }
    stats.clean_ms = Date.now() - t0;
    process.stdout.write(`# S4 crash loop: trials ${stats.trials}, crashes ${stats.crashed}, acknowledged writes ${stats.acknowledged}, ` +
      `orphans ${stats.orphans + rep.orphans}, missing ${stats.missing + rep.missing}, lost acknowledged uploads ${stats.lost}, ` +
      `torn media ${stats.torn}, spool files left ${stats.spool_left}, outbox clean ${stats.clean_ms} ms after the last restart\n`);
    assert.equal(stats.orphans, 0, 'no orphan after any restart');
    assert.equal(stats.missing, 0, 'no missing blob after any restart');
    assert.equal(stats.lost, 0, 'no acknowledged upload lost or changed');
    assert.equal(stats.torn, 0, 'every media wholly old or wholly new');
    assert.equal(stats.spool_left, 0, 'no spool file survives a restart');
    assert.equal(rep.pending, 0, 'the outbox finished every pending removal');
    assertClean(dataDir, 'at the end');
    assert.ok(stats.crashed > TRIALS / 3, `enough trials crashed (${stats.crashed})`);
  } catch (e) {
    srv.printLogs(0, 'crash loop failed');
    throw e;
  } finally {
    if (srv.isRunning()) await srv.stop({ keepData: true }).catch(() => {});
    if (process.env.MEDIALIB_E2E_KEEP !== '1') await fsp.rm(root, { recursive: true, force: true });
  }
});
