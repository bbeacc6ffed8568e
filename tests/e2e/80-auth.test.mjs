// Users, logins, tokens and roles (issue 4; TESTING.md A1-A6): the real
// binary without MEDIALIB_INSECURE_OPEN_WRITES. Users are made with the
// CLI against the running server's data dir, as a new user would.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { assertError, assertFieldError, assertMedia, client } from './lib/api.mjs';
import { PNG_1x1 } from './lib/files.mjs';
import { BIN, SLOW, dbEnv, useServer, withServer } from './lib/server.mjs';

const ORIGIN = 'https://app.example';
// A high failure limit here: this file logs in many times from one address.
// The rate limit has a server of its own below, with the default limit.
const S = useServer({
  openWrites: false,
  env: { MEDIALIB_CORS_ORIGINS: `${ORIGIN}, http://localhost:3000`, MEDIALIB_LOGIN_MAX_FAILURES: '1000' },
});
const T = { timeout: 60_000 * SLOW };
const api = () => client(S.srv);

/** Environment for the CLI: the server's data dir, nothing else of ours. */
function cliEnv(srv, extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MEDIALIB_')));
  return { ...env, ...dbEnv(srv.dataDir), MEDIALIB_DATA_DIR: srv.dataDir, MEDIALIB_LOG: 'warn', ...extra };
}

/** Runs `medialib ...args` against srv's data dir; returns {status, stdout, stderr}. */
function cli(srv, args, input = undefined) {
  const r = spawnSync(BIN, args, { env: cliEnv(srv), input, encoding: 'utf8', timeout: 60_000 * SLOW });
  if (r.error) throw r.error;
  return r;
}

function addUser(srv, name, role, password = `${name}-password`) {
  const r = cli(srv, ['user', 'add', name, '--role', role, '--password-stdin'], `${password}\n`);
  assert.equal(r.status, 0, `user add ${name}: ${r.stderr}`);
  return password;
}

async function login(c, username, password) {
  return c.json('POST', '/api/token/', { username, password });
}

async function tokensFor(c, username, password) {
  const res = await login(c, username, password);
  assert.equal(res.status, 200, `login ${username}: ${res.text}`);
  return res.json;
}

const bearer = (t) => ({ authorization: `Bearer ${t}` });

const b64url = (x) => Buffer.from(x).toString('base64url');
const decodePart = (tok, i) => JSON.parse(Buffer.from(tok.split('.')[i], 'base64url').toString('utf8'));

/** A token signed with `key` (the server's secret by default) over any header and claims. */
function forge(srv, header, claims, { key, alg = 'sha256' } = {}) {
  const k = key ?? fs.readFileSync(path.join(srv.dataDir, 'jwt.secret'), 'utf8').trim();
  const si = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${si}.${crypto.createHmac(alg, k).update(si).digest('base64url')}`;
}

function assertInvalidToken(res, what) {
  assertError(res, 401, 'unauthorized');
  assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"', `${what}: WWW-Authenticate`);
}

function upload(c, token, name = 'auth.png') {
  return c.upload(PNG_1x1, { filename: name, headers: token ? bearer(token) : {} });
}

test('first start: a 0600 signing secret in the data dir, and how to create the first admin in the log', T, async () => {
  const st = await fsp.stat(path.join(S.srv.dataDir, 'jwt.secret'));
  assert.equal(st.mode & 0o777, 0o600, 'jwt.secret is readable by its owner only');
  assert.match(fs.readFileSync(path.join(S.srv.dataDir, 'jwt.secret'), 'utf8'), /^[0-9a-f]{64}\n$/);
  assert.match(S.srv.logs(), /medialib user add \S+ --role admin/, 'the log says how to make the first admin');
  assert.doesNotMatch(S.srv.logs(), new RegExp(fs.readFileSync(path.join(S.srv.dataDir, 'jwt.secret'), 'utf8').trim()), 'the secret is never logged');
});

test('log in, upload with the token, refresh, continue; disable the user → 401', T, async () => {
  const c = api();
  const pw = addUser(S.srv, 'editor1', 'editor');
  const { access, refresh, ...rest } = await tokensFor(c, 'editor1', pw);
  assert.deepEqual(Object.keys(rest), [], 'the answer is {"access", "refresh"}');
  // SimpleJWT-shaped claims
  assert.deepEqual(decodePart(access, 0), { alg: 'HS256', typ: 'JWT' });
  const claims = decodePart(access, 1);
  assert.equal(claims.token_type, 'access');
  assert.equal(claims.role, 'editor');
  assert.ok(Number.isInteger(claims.user_id) && claims.user_id > 0);
  assert.match(claims.jti, /^[0-9a-f]{32}$/);
  assert.equal(claims.exp - claims.iat, 15 * 60, 'access tokens live 15 minutes by default');
  const rclaims = decodePart(refresh, 1);
  assert.equal(rclaims.token_type, 'refresh');
  assert.equal(rclaims.exp - rclaims.iat, 7 * 86400, 'refresh tokens live 7 days by default');

  const up = await upload(c, access);
  assert.equal(up.status, 201, up.text);
  assertMedia(up.json, c.base);

  const r = await c.json('POST', '/api/token/refresh/', { refresh });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json), ['access']);
  assert.notEqual(r.json.access, access);
  const edit = await c.json('PATCH', `/api/media/${up.json.id}/`, { title: 'with a refreshed token' }, { headers: bearer(r.json.access) });
  assert.equal(edit.status, 200, edit.text);
  assert.equal(edit.json.title, 'with a refreshed token');

  const dis = cli(S.srv, ['user', 'disable', 'editor1']);
  assert.equal(dis.status, 0, dis.stderr);
  for (const tok of [access, r.json.access]) assertInvalidToken(await upload(c, tok), 'a disabled user\'s access token');
  assertInvalidToken(await c.json('POST', '/api/token/refresh/', { refresh }), 'a disabled user\'s refresh token');
  const again = await login(c, 'editor1', pw);
  assertError(again, 401, 'unauthorized');
  assert.equal(again.json.error.message, 'No active account found with the given credentials');
  assert.equal((await c.get(`/api/media/${up.json.id}/`)).json.title, 'with a refreshed token', 'nothing changed after the 401');
});

test('no token, another scheme, or garbage → 401 with WWW-Authenticate: Bearer; nothing stored', T, async () => {
  const c = api();
  const before = (await c.get('/api/media/')).json.count;
  const none = await upload(c, null);
  assertError(none, 401, 'unauthorized');
  assert.equal(none.headers.get('www-authenticate'), 'Bearer');
  const basic = await c.upload(PNG_1x1, { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
  assertError(basic, 401, 'unauthorized');
  assert.equal(basic.headers.get('www-authenticate'), 'Bearer');
  for (const junk of ['garbage', 'a.b', 'a.b.c.d', '...', 'x'.repeat(9000), 'eyJhbGciOiJIUzI1NiJ9.e30.AAAA']) {
    assertInvalidToken(await upload(c, junk), `token ${junk.slice(0, 20)}`);
  }
  assert.equal((await c.get('/api/media/')).json.count, before, 'nothing was stored');
});

test('alg none, other algorithms, tampered, expired, not yet valid and refresh-as-access tokens → 401 invalid_token', T, async () => {
  const c = api();
  const pw = addUser(S.srv, 'editor2', 'editor');
  const { access, refresh } = await tokensFor(c, 'editor2', pw);
  const claims = decodePart(access, 1);
  const now = Math.floor(Date.now() / 1000);
  const [h, p] = access.split('.');
  const cases = {
    'alg none, no signature': `${b64url('{"alg":"none","typ":"JWT"}')}.${p}.`,
    'alg none, old signature': `${b64url('{"alg":"none","typ":"JWT"}')}.${p}.${access.split('.')[2]}`,
    'RS256 header, HMAC by the secret': forge(S.srv, { alg: 'RS256', typ: 'JWT' }, claims),
    'HS512 header and signature': forge(S.srv, { alg: 'HS512', typ: 'JWT' }, claims, { alg: 'sha512' }),
    'ES256 header': forge(S.srv, { alg: 'ES256' }, claims),
    'payload tampered (role admin)': `${h}.${b64url(JSON.stringify({ ...claims, role: 'admin', user_id: 1 }))}.${access.split('.')[2]}`,
    'signed with another key': forge(S.srv, { alg: 'HS256', typ: 'JWT' }, claims, { key: 'k'.repeat(32) }),
    expired: forge(S.srv, { alg: 'HS256', typ: 'JWT' }, { ...claims, iat: now - 3600, exp: now - 1 }),
    'nbf beyond the leeway': forge(S.srv, { alg: 'HS256', typ: 'JWT' }, { ...claims, nbf: now + 600 }),
    'no exp': forge(S.srv, { alg: 'HS256', typ: 'JWT' }, { ...claims, exp: undefined }),
    'wrong token_type': forge(S.srv, { alg: 'HS256', typ: 'JWT' }, { ...claims, token_type: 'id' }),
    'refresh used as access': refresh,
    'two segments': `${h}.${p}`,
    'four segments': `${access}.${p}`,
    'bad base64url': `${h}.${p.replace(/[A-Za-z]/, '+')}.${access.split('.')[2]}`,
    '1 MB': `${h}.${'A'.repeat(1 << 20)}.${access.split('.')[2]}`,
  };
  // A correctly forged token is accepted: the cases fail for their own reason.
  const control = await upload(c, forge(S.srv, { alg: 'HS256', typ: 'JWT' }, claims), 'control.png');
  assert.equal(control.status, 201, control.text);
  for (const [what, tok] of Object.entries(cases)) {
    const res = await upload(c, tok);
    if (what === '1 MB') {
      // Past the header size limit: refused before any parsing.
      assert.ok([401, 431].includes(res.status), `${what}: ${res.status}`);
      continue;
    }
    assertInvalidToken(res, what);
  }
  // An access token is not a refresh token either.
  assertInvalidToken(await c.json('POST', '/api/token/refresh/', { refresh: access }), 'access used as refresh');
});

test('roles: a viewer reads but cannot write (403); an editor cannot manage users (403)', T, async () => {
  const c = api();
  const vpw = addUser(S.srv, 'viewer1', 'viewer');
  const epw = addUser(S.srv, 'editor3', 'editor');
  const viewer = (await tokensFor(c, 'viewer1', vpw)).access;
  const editor = (await tokensFor(c, 'editor3', epw)).access;
  const m = (await upload(c, editor, 'roles.png')).json;
  assert.ok(m.id);

  const writes = [
    () => upload(c, viewer),
    () => c.json('PATCH', `/api/media/${m.id}/`, { title: 'x' }, { headers: bearer(viewer) }),
    () => c.call('PUT', `/api/media/${m.id}/file`, { headers: { 'content-type': 'image/png', ...bearer(viewer) }, body: PNG_1x1 }),
    () => c.del(`/api/media/${m.id}/`, { headers: bearer(viewer) }),
  ];
  for (const w of writes) {
    const res = await w();
    assertError(res, 403, 'forbidden');
    assert.match(res.json.error.message, /editor role/);
  }
  assert.equal((await c.get(`/api/media/${m.id}/`, { headers: bearer(viewer) })).status, 200, 'a viewer reads');
  assert.equal((await c.get(`/api/media/${m.id}/`)).json.title, m.title, 'the media is unchanged');

  for (const tok of [viewer, editor]) {
    assertError(await c.get('/api/users/', { headers: bearer(tok) }), 403, 'forbidden');
    assertError(await c.json('POST', '/api/users/', { username: 'x1', password: 'password1', role: 'admin' }, { headers: bearer(tok) }), 403, 'forbidden');
    assertError(await c.json('PATCH', '/api/users/1/', { role: 'admin' }, { headers: bearer(tok) }), 403, 'forbidden');
    assertError(await c.del('/api/users/1/', { headers: bearer(tok) }), 403, 'forbidden');
  }
  const me = await c.get('/api/users/me/', { headers: bearer(editor) });
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.username, 'editor3');
  assert.equal(me.json.role, 'editor');
  assert.ok(!('password_hash' in me.json));
  assertError(await c.get('/api/users/me/'), 401, 'unauthorized');
});

test('admins manage users: create, list, change role and password, disable, delete; the last admin stays', T, async () => {
  const c = api();
  const apw = addUser(S.srv, 'admin1', 'admin');
  const admin = (await tokensFor(c, 'admin1', apw)).access;
  const h = { headers: bearer(admin) };

  const created = await c.json('POST', '/api/users/', { username: 'newbie', password: 'newbie-password', role: 'viewer' }, h);
  assert.equal(created.status, 201, created.text);
  assert.deepEqual(Object.keys(created.json).sort(), ['created_at', 'disabled', 'id', 'last_login_at', 'role', 'username']);
  assert.equal(created.json.last_login_at, null);
  assert.equal(new URL(created.headers.get('location')).pathname, `/api/users/${created.json.id}/`);
  const id = created.json.id;

  assertFieldError(await c.json('POST', '/api/users/', { username: 'NEWBIE', password: 'newbie-password', role: 'viewer' }, h), 'username');
  assertFieldError(await c.json('POST', '/api/users/', { username: 'short', password: 'short', role: 'viewer' }, h), 'password');
  assertFieldError(await c.json('POST', '/api/users/', { username: 'roleless', password: 'password1', role: 'root' }, h), 'role');
  assertFieldError(await c.json('POST', '/api/users/', { username: 'bad name!', password: 'password1' }, h), 'username');
  assertFieldError(await c.json('POST', '/api/users/', { password: 'password1' }, h), 'username');
  assertError(await c.json('POST', '/api/users/', '{"username":', h), 400, 'bad_request');
  assertError(await c.call('POST', '/api/users/', { headers: { 'content-type': 'text/plain', ...h.headers }, body: 'x' }), 415);
  assertError(await c.json('POST', '/api/users/', JSON.stringify({ username: 'big', password: 'x'.repeat(70000) }), h), 413);

  const list = await c.get('/api/users/?page_size=100', h);
  assert.equal(list.status, 200, list.text);
  assert.ok(list.json.results.some((u) => u.id === id && u.username === 'newbie'));
  assert.equal(list.json.count, list.json.results.length);

  const newbie = await tokensFor(c, 'newbie', 'newbie-password');
  assertError(await upload(c, newbie.access), 403, 'forbidden');
  const promoted = await c.json('PATCH', `/api/users/${id}/`, { role: 'editor' }, h);
  assert.equal(promoted.status, 200, promoted.text);
  assert.equal(promoted.json.role, 'editor');
  assert.equal((await upload(c, newbie.access, 'promoted.png')).status, 201, 'the new role applies to the same token at once');

  const pw = await c.json('PATCH', `/api/users/${id}/`, { password: 'another-password' }, h);
  assert.equal(pw.status, 200, pw.text);
  assertInvalidToken(await upload(c, newbie.access), 'token from before the password change');
  assertInvalidToken(await c.json('POST', '/api/token/refresh/', { refresh: newbie.refresh }), 'refresh from before the password change');
  assertError(await login(c, 'newbie', 'newbie-password'), 401, 'unauthorized');
  const fresh = await tokensFor(c, 'newbie', 'another-password');

  assertFieldError(await c.json('PATCH', `/api/users/${id}/`, { disabled: 'yes' }, h), 'disabled');
  assertFieldError(await c.json('PATCH', `/api/users/${id}/`, { role: 'owner' }, h), 'role');
  const dis = await c.json('PATCH', `/api/users/${id}/`, { disabled: true }, h);
  assert.equal(dis.status, 200, dis.text);
  assert.equal(dis.json.disabled, true);
  assertInvalidToken(await upload(c, fresh.access), 'disabled through the API');

  const del = await c.del(`/api/users/${id}/`, h);
  assert.equal(del.status, 204, del.text);
  assertError(await c.get(`/api/users/${id}/`, h), 404, 'not_found');
  assertError(await c.del(`/api/users/${id}/`, h), 404, 'not_found');
  assertError(await c.get('/api/users/abc/', h), 404, 'not_found');

  // admin1 may be the only enabled admin: the server will not lock everyone out.
  const admins = (await c.get('/api/users/?page_size=100', h)).json.results.filter((u) => u.role === 'admin' && !u.disabled);
  if (admins.length === 1) {
    assertError(await c.json('PATCH', `/api/users/${admins[0].id}/`, { role: 'viewer' }, h), 409, 'conflict');
    assertError(await c.del(`/api/users/${admins[0].id}/`, h), 409, 'conflict');
  }
});

test('logout: a revoked refresh token no longer refreshes', T, async () => {
  const c = api();
  const pw = addUser(S.srv, 'leaver', 'viewer');
  const { refresh } = await tokensFor(c, 'leaver', pw);
  const out = await c.json('POST', '/api/token/revoke/', { refresh });
  assert.equal(out.status, 200, out.text);
  assertInvalidToken(await c.json('POST', '/api/token/refresh/', { refresh }), 'revoked refresh token');
  assertFieldError(await c.json('POST', '/api/token/refresh/', {}), 'refresh');
});

test('login: wrong password and unknown user get the same answer, in similar time', T, async () => {
  const c = api();
  const pw = addUser(S.srv, 'timing', 'viewer');
  assertFieldError(await c.json('POST', '/api/token/', { username: 'timing' }), 'password');
  assertFieldError(await c.json('POST', '/api/token/', { password: 'x' }), 'username');
  const time = async (u, p) => {
    const t0 = process.hrtime.bigint();
    const res = await login(c, u, p);
    return { res, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  };
  const wrong = [], unknown = [];
  for (let i = 0; i < 5; i++) {
    wrong.push(await time('timing', `${pw}x`));
    unknown.push(await time(`nobody${i}`, pw));
  }
  for (const { res } of [...wrong, ...unknown]) {
    assertError(res, 401, 'unauthorized');
    assert.equal(res.json.error.message, 'No active account found with the given credentials');
  }
  const median = (xs) => xs.map((x) => x.ms).sort((a, b) => a - b)[2];
  // Without the dummy hash an unknown user would answer ~100x faster.
  assert.ok(median(unknown) > median(wrong) * 0.4, `unknown user ${median(unknown)} ms vs wrong password ${median(wrong)} ms`);
});

test('medialib token --user NAME --ttl 1h mints an access token for scripts', T, async () => {
  const c = api();
  addUser(S.srv, 'script', 'editor');
  const r = cli(S.srv, ['token', '--user', 'script', '--ttl', '1h']);
  assert.equal(r.status, 0, r.stderr);
  const tok = r.stdout.trim();
  const claims = decodePart(tok, 1);
  assert.equal(claims.exp - claims.iat, 3600);
  assert.equal((await upload(c, tok, 'script.png')).status, 201);
  assert.notEqual(cli(S.srv, ['token', '--user', 'nobody']).status, 0);
  assert.equal(cli(S.srv, ['token', '--user', 'script', '--ttl', 'forever']).status, 2);
  const list = cli(S.srv, ['user', 'list']);
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /script\s+editor\s+enabled/);
  assert.equal(cli(S.srv, ['user', 'add', 'weak', '--password-stdin'], 'short\n').status, 2, 'a short password is refused');
});

test('CORS: preflight answered for an allowed origin, refused for another; answers carry the origin', T, async () => {
  const c = api();
  const pre = await c.call('OPTIONS', '/api/media/', {
    headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  });
  assert.equal(pre.status, 204, pre.text);
  assert.equal(pre.headers.get('access-control-allow-origin'), ORIGIN);
  assert.match(pre.headers.get('access-control-allow-headers'), /Authorization/);
  assert.match(pre.headers.get('access-control-allow-headers'), /Content-Type/);
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
  assert.match(pre.headers.get('access-control-allow-methods'), /DELETE/);
  assert.ok(Number(pre.headers.get('access-control-max-age')) > 0);
  assert.match(pre.headers.get('vary') ?? '', /Origin/);
  assert.equal(pre.headers.get('access-control-allow-credentials'), null);

  const evil = await c.call('OPTIONS', '/api/media/', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
  assertError(evil, 403, 'forbidden');
  assert.equal(evil.headers.get('access-control-allow-origin'), null);

  const get = await c.get('/api/media/', { headers: { origin: ORIGIN } });
  assert.equal(get.status, 200);
  assert.equal(get.headers.get('access-control-allow-origin'), ORIGIN);
  assert.match(get.headers.get('access-control-expose-headers'), /X-Request-Id/);
  assert.match(get.headers.get('access-control-expose-headers'), /Location/);
  assert.match(get.headers.get('vary') ?? '', /Origin/);
  const err = await upload(c, null);
  assert.equal(err.headers.get('access-control-allow-origin'), null, 'no Origin, no CORS header');
  const other = await c.get('/api/media/', { headers: { origin: 'https://evil.example' } });
  assert.equal(other.headers.get('access-control-allow-origin'), null);
  const local = await c.get('/api/media/', { headers: { origin: 'http://localhost:3000' } });
  assert.equal(local.headers.get('access-control-allow-origin'), 'http://localhost:3000');
  // An OPTIONS that is not a preflight is still a 405.
  assertError(await c.call('OPTIONS', '/api/media/'), 405, 'method_not_allowed');
});

test('login rate limit: 10 failures a minute, then 429 with Retry-After, even for the right password', { timeout: 120_000 * SLOW }, async () => {
  await withServer({ openWrites: false }, async (srv) => {
    const c = client(srv);
    const pw = addUser(srv, 'target', 'viewer');
    for (let i = 0; i < 10; i++) assertError(await login(c, 'target', `wrong-${i}-password`), 401, 'unauthorized');
    for (const p of ['wrong again', pw]) {
      const res = await login(c, 'target', p);
      assertError(res, 429, 'rate_limited');
      const retry = Number(res.headers.get('retry-after'));
      assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After: ${res.headers.get('retry-after')}`);
    }
    // The address is blocked too: another username from here waits as well.
    addUser(srv, 'bystander', 'viewer');
    assertError(await login(c, 'bystander', 'bystander-password'), 429, 'rate_limited');
    assert.match(srv.logs(), /auth.login_failed/);
  });
});

test('MEDIALIB_PRIVATE_API=1: API reads need a viewer token; file URLs stay public', T, async () => {
  await withServer({ openWrites: false, env: { MEDIALIB_PRIVATE_API: '1' } }, async (srv) => {
    const c = client(srv);
    addUser(srv, 'ed', 'editor', 'ed-password');
    addUser(srv, 'vi', 'viewer', 'vi-password');
    const ed = (await tokensFor(c, 'ed', 'ed-password')).access;
    const vi = (await tokensFor(c, 'vi', 'vi-password')).access;
    const m = (await upload(c, ed, 'private.png')).json;
    const anon = await c.get('/api/media/');
    assertError(anon, 401, 'unauthorized');
    assert.equal(anon.headers.get('www-authenticate'), 'Bearer');
    assertError(await c.get(`/api/media/${m.id}/`), 401, 'unauthorized');
    assertInvalidToken(await c.get('/api/media/', { headers: bearer('bad.token.here') }), 'bad token on a read');
    assert.equal((await c.get('/api/media/', { headers: bearer(vi) })).status, 200);
    assert.equal((await c.get(`/api/media/${m.id}/`, { headers: bearer(vi) })).status, 200);
    const file = await c.get(new URL(m.url).pathname);
    assert.equal(file.status, 200, 'file URLs need no token');
    assert.deepEqual(file.body, PNG_1x1);
  });
});

test('MEDIALIB_JWT_SECRET of 31 bytes → the server refuses to start (exit 2); 32 bytes serve', T, async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'medialib-e2e-secret-'));
  try {
    const env = { ...cliEnv({ dataDir: path.join(dir, 'data') }), MEDIALIB_LISTEN: '127.0.0.1:0', MEDIALIB_JWT_SECRET: 'x'.repeat(31) };
    const r = spawnSync(BIN, ['serve'], { env, encoding: 'utf8', timeout: 30_000 * SLOW });
    assert.equal(r.status, 2, `exit code: ${r.status}; stderr: ${r.stderr}`);
    assert.match(r.stderr, /MEDIALIB_JWT_SECRET has 31 bytes; it needs at least 32/);
    assert.doesNotMatch(r.stderr, /x{31}/, 'the secret is not printed');
    assert.equal(spawnSync(BIN, ['token', '--user', 'a'], { env, encoding: 'utf8' }).status, 2);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
  await withServer({ openWrites: false, env: { MEDIALIB_JWT_SECRET: 's'.repeat(32) } }, async (srv) => {
    const c = client(srv);
    addUser(srv, 'sec', 'editor', 'sec-password');
    const { access } = await tokensFor(c, 'sec', 'sec-password');
    const claims = decodePart(access, 1);
    // The token is signed with the configured secret: one forged with it passes.
    const tok = forge(srv, { alg: 'HS256', typ: 'JWT' }, claims, { key: 's'.repeat(32) });
    assert.equal((await upload(c, tok)).status, 201);
    assert.equal(fs.existsSync(path.join(srv.dataDir, 'jwt.secret')), false, 'no secret file when the environment gives one');
  });
});

test('a refused upload gets its 401 after the body, on a connection that stays open (clients that write the whole body first see the answer)', T, async () => {
  const net = await import('node:net');
  const body = Buffer.alloc(300_000, 0x61);
  const head = `POST /api/media/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`;
  const text = await new Promise((resolve, reject) => {
    const sock = net.connect(S.srv.port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no answers: ${data}`)); }, 10_000 * SLOW);
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('data', (d) => {
      data += d.toString('latin1');
      // Both answers: the 401 and, on the same connection, the health check.
      if ((data.match(/HTTP\/1\.1 /g) || []).length >= 2 && data.endsWith('}')) {
        clearTimeout(timer);
        sock.destroy();
        resolve(data);
      }
    });
    // The whole body first, as Node's fetch does, then a second request.
    sock.write(head);
    sock.write(body, () => sock.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
  });
  const answers = text.split(/(?=HTTP\/1\.1 )/);
  assert.match(answers[0], /^HTTP\/1\.1 401 /, answers[0].slice(0, 200));
  assert.match(answers[0], /"code":"unauthorized"/);
  assert.doesNotMatch(answers[0], /Connection: close/i, 'the connection is kept');
  assert.match(answers[1], /^HTTP\/1\.1 200 /, answers[1]?.slice(0, 200));
});
