// Cache purges against a real Varnish (Debian's 7.1) configured as a
// misconfigured CDN that caches every answer under /media/ for a day, even
// the no-cache redirects and no-store 404s: only the purges medialib sends
// (MEDIALIB_PURGE_URL) can make a replace or a delete show through it.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { client, eventually } from './lib/api.mjs';
import { makePng, sha256 } from './lib/files.mjs';
import { request } from './lib/http.mjs';
import { freePort, startServer, useServer } from './lib/server.mjs';
import { misconfiguredCdnVcl, startVarnish } from './lib/varnish.mjs';

const T = { timeout: 60_000 };
const VPORT = await freePort();
const VBASE = `http://127.0.0.1:${VPORT}`;
const cache = { v: null };

// medialib's public URL is the cache's: Locations point through it, and the
// purges carry its Host, which Varnish hashes objects by.
const S = useServer({ env: { MEDIALIB_PUBLIC_URL: VBASE, MEDIALIB_PURGE_URL: VBASE } }, async (srv) => {
  cache.v = await startVarnish({ port: VPORT, vcl: misconfiguredCdnVcl(srv.port) });
});
after(async () => {
  if (cache.v) await cache.v.stop();
});

const pathOf = (url, base) => new URL(url, base).pathname + new URL(url, base).search;
/** GET through the cache (redirects not followed). */
const viaCache = (p, base = VBASE) => request(base, 'GET', pathOf(p, base));

/** GET through the cache, following one redirect (through the cache too). */
async function bytesViaCache(p, base = VBASE) {
  let res = await viaCache(p, base);
  if (res.status === 302) res = await viaCache(res.headers.get('location'), base);
  assert.equal(res.status, 200, `${p}: ${res.status} ${res.text.slice(0, 200)}`);
  return res.body;
}

/** Fetches each path through the cache twice and asserts the second is a hit. */
async function warm(paths, base = VBASE) {
  for (const p of paths) {
    await viaCache(p, base);
    const res = await viaCache(p, base);
    assert.equal(res.headers.get('x-cache'), 'HIT', `${p} is cached (status ${res.status})`);
  }
}

async function replace(c, id, data, filename) {
  const res = await c.upload(data, { method: 'PATCH', path: `/api/media/${id}/`, filename });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

async function purgeJobs(srv) {
  const res = await request(srv.baseUrl, 'GET', '/metrics');
  return Number(/^medialib_outbox_jobs\{kind="purge_url"\} (\d+)$/m.exec(res.text)?.[1]);
}

test('replace: through the cache the unversioned URLs give the new bytes at once, old version URLs redirect', T, async () => {
  const c = client(S.srv);
  const a = makePng(64, 48, { color: [200, 0, 0] });
  const b = makePng(64, 48, { color: [0, 0, 200] });
  const m1 = await c.create(a, { filename: 'sunset photo.png' });
  const unversioned = [`/media/${m1.id}`, `/media/${m1.id}/${encodeURIComponent(m1.filename)}`];
  const old = [m1.url, m1.variants.thumbnail];
  await warm([...unversioned, ...old]);
  // Meaningful: the cache holds the old answers.
  assert.equal(sha256(await bytesViaCache(unversioned[0])), sha256(a));

  const m2 = await replace(c, m1.id, b, 'sunset photo.png');
  assert.equal(m2.version, 2);
  for (const p of unversioned) {
    const res = await viaCache(p);
    assert.equal(res.status, 302, p);
    assert.equal(res.headers.get('location'), m2.url, `${p} redirects to the new version`);
    assert.equal(sha256(await bytesViaCache(p)), sha256(b), `${p} gives the new bytes`);
  }
  for (const p of old) {
    const res = await viaCache(p);
    assert.equal(res.status, 302, `${p} is no longer the cached old file`);
  }
  assert.equal((await viaCache(m1.url)).headers.get('location'), m2.url);
});

test('delete: every URL of the media through the cache is 404 at once', T, async () => {
  const c = client(S.srv);
  const m1 = await c.create(makePng(64, 48, { color: [0, 150, 0] }), { filename: 'leaf.png' });
  const m2 = await replace(c, m1.id, makePng(64, 48, { color: [0, 90, 0] }), 'leaf.png');
  const urls = [
    `/media/${m2.id}`,
    `/media/${m2.id}/leaf.png`,
    m1.url, // the old version: its cached answer is a redirect
    m2.url,
    m2.variants.thumbnail,
    m2.variants.small,
  ];
  await warm(urls);
  for (const p of [m2.url, m2.variants.thumbnail]) assert.equal((await viaCache(p)).status, 200, p);

  const res = await c.del(`/api/media/${m2.id}/`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.storage.status, 'deleted');
  assert.equal(res.json.cache.status, 'purged');
  assert.ok(res.json.cache.urls >= urls.length, `purged ${res.json.cache.urls} URLs`);
  for (const p of urls) assert.equal((await viaCache(p)).status, 404, `${p} through the cache`);
});

test('the cache is down during a delete: the purge stays pending and completes when it is back', T, async () => {
  const c = client(S.srv);
  const m = await c.create(makePng(32, 32, { color: [9, 9, 9] }), { filename: 'gone.png' });
  await warm([m.url]);
  await cache.v.stop();
  cache.v = null;

  const res = await c.del(`/api/media/${m.id}/`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.storage.status, 'deleted', 'the storage does not wait for the cache');
  assert.equal(res.json.cache.status, 'pending');
  assert.ok((await purgeJobs(S.srv)) > 0, 'purge jobs are queued');
  const text = (await request(S.srv.baseUrl, 'GET', '/metrics')).text;
  assert.match(text, /^medialib_outbox_jobs_failing\{kind="purge_url"\} [1-9]/m);

  cache.v = await startVarnish({ port: VPORT, vcl: misconfiguredCdnVcl(S.srv.port) });
  const left = await eventually(async () => (await purgeJobs(S.srv)) === 0, { within: 15_000 });
  assert.ok(left, `the purges completed once the cache was back (left: ${await purgeJobs(S.srv)})`);
  assert.match(S.srv.logs(), /"msg":"job.done"[^\n]*"kind":"purge_url"/);
  assert.equal((await viaCache(m.url)).status, 404);
});

test('ban mode: one BAN per media drops every URL under /media/<id>, query strings included', T, async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const srv = await startServer({ env: { MEDIALIB_PUBLIC_URL: base, MEDIALIB_PURGE_URL: base, MEDIALIB_PURGE_METHOD: 'ban' } });
  let v = null;
  try {
    v = await startVarnish({ port, vcl: misconfiguredCdnVcl(srv.port) });
    const c = client(srv);
    const a = makePng(40, 40, { color: [1, 2, 3] });
    const b = makePng(40, 40, { color: [3, 2, 1] });
    const m1 = await c.create(a, { filename: 'q.png' });
    // URLs a PURGE per URL cannot list: query strings.
    const odd = [`${m1.url}?download=1`, `/media/${m1.id}/q.png?utm=x`];
    await warm([`/media/${m1.id}`, m1.url, m1.variants.thumbnail, ...odd], base);

    const m2 = await replace(c, m1.id, b, 'q.png');
    assert.equal(sha256(await bytesViaCache(`/media/${m1.id}`, base)), sha256(b));
    for (const p of [m1.url, ...odd]) {
      const r = await viaCache(p, base);
      assert.equal(r.status, 302, `${p} after the replace`);
      assert.equal(r.headers.get('location'), m2.url, `${p} redirects to the new version`);
    }

    await warm([m2.url, `${m2.url}?download=1`], base);
    const res = await c.del(`/api/media/${m2.id}/`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.cache, { status: 'purged', urls: 1 });
    for (const p of [`/media/${m2.id}`, m1.url, m2.url, `${m2.url}?download=1`, ...odd]) {
      assert.equal((await viaCache(p, base)).status, 404, `${p} through the cache`);
    }
  } catch (e) {
    srv.printLogs(0, 'ban test failed');
    throw e;
  } finally {
    if (v) await v.stop();
    await srv.stop();
  }
});
