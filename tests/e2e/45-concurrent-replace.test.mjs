// S7: a file replaced while 100 readers download it: every reader gets the
// whole old file (or a redirect / 404), never a mix of old and new bytes.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';

import { blobsOf, client, eventually } from './lib/api.mjs';
import { makePngOfSize, sha256 } from './lib/files.mjs';
import { hashedGet } from './lib/http.mjs';
import { SLOW, useServer } from './lib/server.mjs';
import { readBlob, STORE_KIND } from './lib/store.mjs';

// On S3 and Cloudinary a download is a HEAD when the request comes (size,
// headers) and a ranged GET at its first read: a reader whose GET started
// after the old object's removal would get a 404 there, its 200 already
// out. A replaced version therefore stays MEDIALIB_REPLACED_GRACE_MS (30 s by
// default there; 0 on the file system, whose readers hold the file open):
// the suite sets 0 elsewhere, so S7 sets a grace of its own.
const REMOTE = STORE_KIND !== 'fs';
const S = useServer(REMOTE ? { env: { MEDIALIB_REPLACED_GRACE_MS: '3000' } } : {});

/**
 * A download on its own connection, hashed as it streams. With a `gate`, it
 * pauses after the first chunk until the gate opens. Returns {started, done}.
 */
function reader(url, gate) {
  let markStarted;
  const started = new Promise((r) => (markStarted = r));
  const done = new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      const h = crypto.createHash('sha256');
      let size = 0;
      let first = true;
      res.on('data', (chunk) => {
        h.update(chunk);
        size += chunk.length;
        if (first && gate) {
          first = false;
          res.pause();
          markStarted();
          gate.then(() => res.resume());
        }
      });
      res.on('end', () => {
        markStarted();
        resolve({ status: res.statusCode, location: res.headers.location, size, sha256: h.digest('hex') });
      });
      res.on('error', reject);
    });
    req.on('error', (e) => (markStarted(), reject(e)));
  });
  return { started, done };
}

test('S7: 100 readers of the old URL during a replace each get the whole old file, a 302 or a 404, never a mix', { timeout: 180_000 * SLOW }, async () => {
  const c = client(S.srv);
  const OLD = makePngOfSize(8 << 20);
  const NEW = makePngOfSize(8 << 20);
  const m = await c.create(OLD, { filename: 'big.png' });

  let openGate;
  const gate = new Promise((r) => (openGate = r));
  const early = Array.from({ length: 50 }, () => reader(m.url, gate));
  await Promise.all(early.map((r) => r.started)); // each has its first bytes of the old file

  const replacing = c.call('PUT', `/api/media/${m.id}/file`, { headers: { 'content-type': 'image/png' }, body: NEW, timeout: 120_000 * SLOW });
  const during = Array.from({ length: 50 }, () => reader(m.url));
  const replaced = await replacing;
  assert.equal(replaced.status, 200, replaced.text.slice(0, 300));
  assert.equal(replaced.json.version, 2);
  const newUrl = replaced.json.url;
  // Let the paused readers go on only once the old blob is gone from disk:
  // the rest of their bytes must come from the file they opened, not by path.
  const oldGone = await eventually(async () => {
    for (const f of await blobsOf(S.srv.dataDir, m.id)) {
      const bytes = await readBlob(S.srv.dataDir, f);
      if (bytes && sha256(bytes) === sha256(OLD)) return false;
    }
    return true;
  }, { within: 20_000 * SLOW, every: 250 });
  assert.ok(oldGone, 'the old blob is removed after the replace');
  openGate();

  const results = await Promise.all([...early, ...during].map((r) => r.done));
  results.forEach((r, i) => {
    const who = `reader ${i} (${i < 50 ? 'started before' : 'started during'} the replace)`;
    if (r.status === 200) {
      assert.equal(r.size, OLD.length, `${who}: whole file`);
      assert.equal(r.sha256, sha256(OLD), `${who}: exactly the old bytes`);
    } else if (r.status === 302) {
      assert.equal(new URL(r.location, c.base).href, newUrl, `${who}: redirect to the new URL`);
    } else {
      assert.equal(r.status, 404, `${who}: 200, 302 or 404, got ${r.status}`);
    }
  });
  assert.ok(results.slice(0, 50).every((r) => r.status === 200), 'readers that had started keep their download');

  const now = await hashedGet(newUrl);
  assert.equal(now.status, 200);
  assert.equal(now.sha256, sha256(NEW), 'the new URL serves the new file');
  assert.equal(now.size, NEW.length);
});
