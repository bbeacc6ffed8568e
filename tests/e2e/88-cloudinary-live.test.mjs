// A smoke test against a REAL Cloudinary account: runs only when
// CLOUDINARY_URL is set (cloudinary://API_KEY:API_SECRET@CLOUD_NAME); the
// service cannot be reached from the machines `make test` runs on, where
// 87-cloudinary-standin covers the same ground against the stand-in. Uses a
// folder of its own (medialib-smoke-<time>/) and removes what it made.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { client, eventually } from './lib/api.mjs';
import { fsck } from './lib/faults.mjs';
import { makePng, sha256 } from './lib/files.mjs';
import { startServer } from './lib/server.mjs';

const LIVE = process.env.CLOUDINARY_URL || '';
const skip = LIVE.startsWith('cloudinary://') ? false : 'needs CLOUDINARY_URL (a real account); the stand-in test covers this without one';

test('Cloudinary (live account): upload, delivery by redirect, a thumbnail transformation, delete with invalidate', { timeout: 120_000, skip }, async () => {
  const prefix = `medialib-smoke-${Date.now()}/`;
  const url = `${LIVE}${LIVE.includes('?') ? '&' : '?'}prefix=${encodeURIComponent(prefix)}`;
  const srv = await startServer({ env: { MEDIALIB_STORAGE_URL: url } });
  try {
    const c = client(srv);
    assert.equal((await c.get('/readyz')).status, 200, 'the Admin API ping answers');
    const png = makePng(32, 24, { color: [200, 100, 50] });
    const m = await c.create(png, { filename: 'smoke.png' });
    const res = await c.get(new URL(m.url).pathname);
    assert.equal(res.status, 302);
    const loc = res.headers.get('location');
    assert.match(loc, /^https:\/\/res\.cloudinary\.com\/[^/]+\/image\/upload\/v1\//);
    const bytes = Buffer.from(await (await fetch(loc)).arrayBuffer());
    assert.equal(sha256(bytes), sha256(png), 'the original comes back byte for byte');
    const thumb = await c.get(new URL(m.variants.thumbnail).pathname);
    assert.equal(thumb.status, 302);
    const t = await fetch(thumb.headers.get('location'));
    assert.equal(t.status, 200);
    assert.match(t.headers.get('content-type'), /^image\//);
    const del = await c.del(`/api/media/${m.id}/`);
    assert.equal(del.status, 200);
    await eventually(async () => (await fetch(loc, { method: 'HEAD' })).status === 404, { within: 60_000, every: 2000 });
    const rep = fsck(srv.dataDir);
    assert.equal(rep.orphans, 0, JSON.stringify(rep));
  } finally {
    await srv.stop();
  }
});
