// The admin UI's HTTP side (/admin/): the redirect, index.html revalidated on
// every load, hashed assets cached for a year, strong ETags and 304, the
// Content-Security-Policy, nosniff, and JSON errors for anything else. The UI
// itself is tested in a browser by web/test/ (make test-browser).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertError } from './lib/api.mjs';
import { request } from './lib/http.mjs';
import { SLOW, useServer } from './lib/server.mjs';

const S = useServer();
const T = { timeout: 30_000 * SLOW };
const get = (path, headers = {}) => request(S.srv.baseUrl, 'GET', path, { headers });

/** The Content-Security-Policy as {directive: [sources]}. */
function parseCsp(value) {
  const out = {};
  for (const part of (value ?? '').split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) out[name] = sources;
  }
  return out;
}

/** The asset paths index.html names (./assets/...). */
async function assetPaths() {
  const res = await get('/admin/');
  const paths = [...res.text.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((m) => `/admin/${m[1]}`);
  assert.ok(paths.some((p) => p.endsWith('.js')), `index.html names a script: ${res.text}`);
  assert.ok(paths.some((p) => p.endsWith('.css')), `index.html names a style sheet: ${res.text}`);
  return paths;
}

test('/admin redirects to /admin/', T, async () => {
  const res = await get('/admin');
  assert.equal(res.status, 302);
  assert.equal(res.headers.get('location'), '/admin/');
  assert.equal(res.body.length, 0);
});

test('/admin/ is the UI: HTML, revalidated on every load, a strong ETag, a strict CSP, nosniff', T, async () => {
  const res = await get('/admin/');
  assert.equal(res.status, 200);
  const h = res.headers;
  assert.equal(h.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(h.get('cache-control'), 'no-cache');
  assert.match(h.get('etag') ?? '', /^"[0-9a-f]{32}"$/, `a strong ETag: ${h.get('etag')}`);
  assert.equal(h.get('x-content-type-options'), 'nosniff');
  assert.ok(h.get('x-request-id'));
  assert.match(res.text, /^<!doctype html>/i);
  assert.match(res.text, /<div id="app"><\/div>/);

  const csp = parseCsp(h.get('content-security-policy'));
  assert.deepEqual(csp['default-src'], ["'self'"]);
  assert.deepEqual(csp['script-src'], ["'self'"]);
  assert.deepEqual(csp['style-src'], ["'self'"]);
  assert.deepEqual(csp['connect-src'], ["'self'"]);
  assert.deepEqual(csp['img-src'], ["'self'", 'data:', 'blob:']);
  assert.deepEqual(csp['frame-ancestors'], ["'none'"]);
  // The page needs nothing the policy forbids: no inline script or style.
  assert.doesNotMatch(res.text, /<script(?![^>]*\ssrc=)[^>]*>/i, 'no inline <script>');
  assert.doesNotMatch(res.text, /<style|\sstyle=/i, 'no inline style');
  assert.doesNotMatch(res.text, /https?:\/\//, 'nothing from another origin (no CDN, no fonts)');
  // The same page with and without the trailing slash's redirect, and by its name.
  const byName = await get('/admin/index.html');
  assert.equal(byName.status, 200);
  assert.ok(byName.body.equals(res.body));
});

test('/admin/ answers 304 to its ETag, with the caching headers again', T, async () => {
  const first = await get('/admin/');
  const etag = first.headers.get('etag');
  const res = await get('/admin/', { 'If-None-Match': etag });
  assert.equal(res.status, 304);
  assert.equal(res.body.length, 0);
  assert.equal(res.headers.get('etag'), etag);
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  const other = await get('/admin/', { 'If-None-Match': '"something-else"' });
  assert.equal(other.status, 200);
  const listed = await get('/admin/', { 'If-None-Match': `"x", ${etag}` });
  assert.equal(listed.status, 304);
});

test('HEAD /admin/ has the headers and no body', T, async () => {
  const res = await request(S.srv.baseUrl, 'HEAD', '/admin/');
  assert.equal(res.status, 200);
  assert.equal(res.body.length, 0);
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.ok(Number(res.headers.get('content-length')) > 0);
});

test('hashed assets: the right type, cached for a year, immutable, strong ETag and 304', T, async () => {
  for (const path of await assetPaths()) {
    const res = await get(path);
    assert.equal(res.status, 200, path);
    const h = res.headers;
    assert.equal(h.get('content-type'), path.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8', path);
    assert.equal(h.get('cache-control'), 'public, max-age=31536000, immutable', path);
    assert.equal(h.get('x-content-type-options'), 'nosniff', path);
    assert.equal(h.get('content-length'), String(res.body.length), path);
    assert.ok(res.body.length > 100, `${path} has content`);
    const etag = h.get('etag');
    assert.match(etag ?? '', /^"[0-9a-f]{32}"$/, path);
    const again = await get(path, { 'If-None-Match': etag });
    assert.equal(again.status, 304, path);
    assert.equal(again.headers.get('cache-control'), 'public, max-age=31536000, immutable', path);
  }
});

test('the favicon is served as SVG', T, async () => {
  const res = await get('/admin/favicon.svg');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/svg+xml');
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  assert.match(res.text, /^<svg /);
});

test('unknown files are 404 JSON errors, never the page', T, async () => {
  for (const path of [
    '/admin/assets/nope.js',
    '/admin/nope.html',
    '/admin/assets/index.html',
    '/admin/assets/..%2Findex.html',
    '/admin/..%2F..%2Fetc%2Fpasswd',
    '/admin/a/b/c',
  ]) {
    const res = await get(path);
    assertError(res, 404, 'not_found');
    assert.equal(res.headers.get('cache-control'), 'no-store', path);
  }
});

test('/admin/ only answers GET and HEAD', T, async () => {
  const res = await request(S.srv.baseUrl, 'POST', '/admin/', { body: 'x', headers: { 'content-type': 'text/plain' } });
  assertError(res, 405, 'method_not_allowed');
  assert.match(res.headers.get('allow') ?? '', /GET/);
});
