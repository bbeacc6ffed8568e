// Logging in, the automatic refresh of an expired access token (one 401, one
// POST /api/token/refresh/, one retry), logging out, against a real server.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MediaApiError, createClient } from '../dist/index.js';
import { USERS, expire, makePng, makePngOfSize, recordingFetch, rejectsWith, useServer } from './helpers.mjs';

const S = useServer();
const T = { timeout: 60_000 };
const path = (x) => `${x.method} ${new URL(x.url).pathname}`;

test('login keeps access and refresh; calls carry the access token; me() is the user', T, async () => {
  const seen = [];
  const c = createClient({ baseUrl: S.srv.baseUrl, onSession: (s) => seen.push(s) });
  assert.equal(c.session, null);
  const t = await c.login('ed', USERS.ed[1]);
  assert.match(t.access, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.match(t.refresh, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.deepEqual(c.session, t);
  assert.deepEqual(seen, [t]);
  const me = await c.me();
  assert.equal(me.username, 'ed');
  assert.equal(me.role, 'editor');
  const m = await c.upload(makePng(1, 1), {}, { filename: 'a.png' });
  assert.equal(m.version, 1);
});

test('an expired access token: one 401, one refresh, the call retried and done, the session updated', T, async () => {
  const f = recordingFetch();
  const seen = [];
  const c = createClient({ baseUrl: S.srv.baseUrl, fetch: f, onSession: (s) => seen.push(s) });
  const t = await c.login('ed', USERS.ed[1]);
  const m = await c.upload(makePng(1, 1), { title: 'v1' }, { filename: 'r.png' });

  // Resume that session with its access token expired (as after 15 minutes idle).
  const stale = { access: expire(t.access), refresh: t.refresh };
  const c2 = createClient({ baseUrl: S.srv.baseUrl, fetch: f, session: stale, onSession: (s) => seen.push(s) });
  f.calls.length = 0;
  const u = await c2.update(m.id, { title: 'after refresh' });
  assert.equal(u.title, 'after refresh');
  assert.deepEqual(f.calls.map((x) => `${path(x)} ${x.status}`), [
    `PATCH /api/media/${m.id}/ 401`,
    'POST /api/token/refresh/ 200',
    `PATCH /api/media/${m.id}/ 200`,
  ]);
  assert.equal(f.calls[0].init.headers.authorization, `Bearer ${stale.access}`);
  const fresh = c2.session;
  assert.notEqual(fresh.access, stale.access);
  assert.equal(fresh.refresh, t.refresh, 'the refresh token is kept');
  assert.equal(f.calls[2].init.headers.authorization, `Bearer ${fresh.access}`);
  assert.deepEqual(seen.at(-1), fresh, 'onSession hears of the new access token');

  // ... and continues with it: no more refreshes
  f.calls.length = 0;
  await c2.remove(m.id);
  assert.deepEqual(f.calls.map(path), [`DELETE /api/media/${m.id}/`]);

  // An upload does not wait for the 401 (the server would refuse it before reading
  // the body and close): it refreshes an expired session first, and sends once.
  const c3 = createClient({ baseUrl: S.srv.baseUrl, fetch: f, session: { access: expire(t.access), refresh: t.refresh } });
  f.calls.length = 0;
  const events = [];
  const png = makePngOfSize(300_000);
  const up = await c3.upload(png, {}, { filename: 'again.png', onProgress: (p) => events.push(p.loaded) });
  assert.equal(up.size, png.length);
  assert.deepEqual(f.calls.map((x) => `${path(x)} ${x.status}`), ['POST /api/token/refresh/ 200', 'POST /api/media/ 201']);
  for (let i = 1; i < events.length; i++) assert.ok(events[i] > events[i - 1], `progress grows: ${events}`);

  // Two calls that meet the 401 together share one refresh.
  const c4 = createClient({ baseUrl: S.srv.baseUrl, fetch: f, session: { access: expire(t.access), refresh: t.refresh } });
  f.calls.length = 0;
  const [me, edited] = await Promise.all([c4.me(), c4.update(up.id, { caption: 'both' })]);
  assert.equal(me.username, 'ed');
  assert.equal(edited.caption, 'both');
  assert.equal(f.calls.filter((x) => path(x) === 'POST /api/token/refresh/').length, 1, 'one refresh for both');
  assert.equal(f.calls.filter((x) => x.status === 401).length, 2);
  assert.equal(f.calls.length, 5);
});

test('a large upload with a refused token gets the 401 (the server reads the body before refusing)', T, async () => {
  const c = createClient({ baseUrl: S.srv.baseUrl, token: expire(S.token('ed')) });
  await rejectsWith(c.upload(makePngOfSize(300_000), {}, { filename: 'big.png' }), MediaApiError, 401, 'unauthorized');
});

test('a refresh that fails (revoked) ends the session: the 401 reaches the caller', T, async () => {
  const f = recordingFetch();
  const a = createClient({ baseUrl: S.srv.baseUrl });
  const t = await a.login('ed', USERS.ed[1]);
  await a.logout();
  const seen = [];
  const c = createClient({ baseUrl: S.srv.baseUrl, fetch: f, session: { access: expire(t.access), refresh: t.refresh }, onSession: (s) => seen.push(s) });
  await rejectsWith(c.update(1, { title: 'x' }), MediaApiError, 401, 'unauthorized');
  assert.deepEqual(f.calls.map((x) => `${path(x)} ${x.status}`), ['PATCH /api/media/1/ 401', 'POST /api/token/refresh/ 401']);
  assert.equal(c.session, null);
  assert.deepEqual(seen, [null]);
});

test('logout revokes the refresh token on the server and forgets the session', T, async () => {
  const f = recordingFetch();
  const c = createClient({ baseUrl: S.srv.baseUrl, fetch: f });
  const t = await c.login('ed', USERS.ed[1]);
  await c.logout();
  assert.equal(c.session, null);
  const revoke = f.calls.find((x) => path(x) === 'POST /api/token/revoke/');
  assert.equal(revoke.status, 200);
  assert.deepEqual(JSON.parse(revoke.init.body), { refresh: t.refresh });
  // the server no longer refreshes with it
  const res = await fetch(`${S.srv.baseUrl}/api/token/refresh/`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh: t.refresh }),
  });
  assert.equal(res.status, 401);
  // without a session: writes are refused, logout again is a no-op
  await rejectsWith(c.upload(makePng(1, 1), {}, { filename: 'a.png' }), MediaApiError, 401, 'unauthorized');
  const before = f.calls.length;
  await c.logout();
  assert.equal(f.calls.length, before + 0, 'no request without a session');
});

test('a fixed token or getToken: no refresh is tried on 401', T, async () => {
  const f = recordingFetch();
  const c = createClient({ baseUrl: S.srv.baseUrl, fetch: f, getToken: () => expire(S.token('ed')) });
  await rejectsWith(c.update(1, { title: 'x' }), MediaApiError, 401, 'unauthorized');
  assert.deepEqual(f.calls.map(path), ['PATCH /api/media/1/']);
  const ok = createClient({ baseUrl: S.srv.baseUrl, token: S.token('ed') });
  assert.equal((await ok.me()).username, 'ed');
});
