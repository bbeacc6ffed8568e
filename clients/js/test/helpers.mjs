// Shared set-up of the client's tests: a real `medialib serve` (started by the
// end-to-end suite's own helper, tests/e2e/lib/server.mjs) with users made by
// the CLI before it starts, and test files made in code.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// The default binary for `npm test` run by hand in clients/js; `make test-client` sets it.
process.env.MEDIALIB_BIN ||= path.resolve(here, '../../../build/medialib');

const { BIN, startServer } = await import('../../../tests/e2e/lib/server.mjs');
export { HTML, makePng, makePngOfSize, makePdf, PNG_1x1 } from '../../../tests/e2e/lib/files.mjs';
export { BIN };

/** 32 random bytes as hex: the server's HS256 secret, known to the tests. */
export const JWT_SECRET = crypto.randomBytes(32).toString('hex');

/** The users every server of these tests has: name -> [role, password]. */
export const USERS = {
  ed: ['editor', 'ed-password-0123'],
  vi: ['viewer', 'vi-password-0123'],
};

function cliEnv(dataDir) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MEDIALIB_')));
  return { ...env, MEDIALIB_DATA_DIR: dataDir, MEDIALIB_JWT_SECRET: JWT_SECRET, MEDIALIB_LOG: 'warn' };
}

/** Runs `medialib ...args` on dataDir; asserts exit 0; returns stdout. */
export function cli(dataDir, args, input) {
  const r = spawnSync(BIN, args, { env: cliEnv(dataDir), input, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `medialib ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Starts a server for the test file (before/after hooks): a fresh data dir with
 * USERS added by the CLI, no open writes, the known JWT secret, plus `env`.
 * Returns a holder: .srv (see tests/e2e/lib/server.mjs), .token(name) (a CLI access token).
 */
export function useServer(env = {}) {
  const holder = {
    srv: null,
    token: (name) => cli(holder.srv.dataDir, ['token', '--user', name]).trim(),
  };
  before(async () => {
    const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'medialib-client-'));
    const dataDir = path.join(root, 'data');
    await fsp.mkdir(dataDir);
    for (const [name, [role, password]] of Object.entries(USERS)) {
      cli(dataDir, ['user', 'add', name, '--role', role, '--password-stdin'], `${password}\n`);
    }
    holder.srv = await startServer({
      dataDir,
      openWrites: false,
      env: { MEDIALIB_JWT_SECRET: JWT_SECRET, MEDIALIB_LOG: 'warn', MEDIALIB_LOGIN_MAX_FAILURES: '1000', ...env },
    });
  }, { timeout: 60_000 });
  after(async () => {
    if (holder.srv) await holder.srv.stop();
  }, { timeout: 60_000 });
  return holder;
}

/**
 * A fetch that records each call's method, URL, init and answer status, for
 * checking what the client sends (`cache: 'no-store'`, headers) on the real server.
 */
export function recordingFetch() {
  const calls = [];
  const f = async (url, init) => {
    const rec = { url, method: init?.method ?? 'GET', init, status: null };
    calls.push(rec);
    const res = await fetch(url, init);
    rec.status = res.status;
    return res;
  };
  f.calls = calls;
  return f;
}

const b64url = (x) => Buffer.from(x).toString('base64url');

/**
 * The same access token, expired: its claims with exp and iat moved into the past,
 * signed again with the server's secret (the server refuses TTLs under 60 s, so a
 * test cannot wait for one to expire).
 */
export function expire(access) {
  const [, payload] = access.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  const now = Math.floor(Date.now() / 1000);
  claims.exp = now - 5;
  claims.iat = now - 65;
  const si = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
  return `${si}.${crypto.createHmac('sha256', JWT_SECRET).update(si).digest('base64url')}`;
}

/** Asserts that `promise` rejects with a MediaApiError of this status and code; returns it. */
export async function rejectsWith(promise, MediaApiError, status, code) {
  let err;
  await assert.rejects(promise, (e) => {
    err = e;
    return true;
  });
  assert.ok(err instanceof MediaApiError, `a MediaApiError, got ${err?.name}: ${err?.message}`);
  assert.equal(err.code, code, `code (message: ${err.message})`);
  assert.equal(err.status, status, 'status');
  return err;
}
