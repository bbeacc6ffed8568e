// Starts and stops a real `medialib serve` for a test file.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach } from 'node:test';
import { fileURLToPath } from 'node:url';

import { sleep } from './http.mjs';
import { backendFor } from './store.mjs';

export const BIN = process.env.MEDIALIB_BIN || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../build/medialib');
const KEEP = process.env.MEDIALIB_E2E_KEEP === '1';
// Sanitizer builds start and stop more slowly.
export const SLOW = Number(process.env.MEDIALIB_E2E_SLOW || 1);

/**
 * A PostgreSQL server URL (e.g. from scripts/pg-cluster.sh): when set, every
 * data dir gets a database of its own on that server, created on first use
 * and dropped when the data dir is, and the server and the CLI are pointed
 * at it with MEDIALIB_DATABASE_URL. Unset: SQLite in the data dir.
 */
export const PG_URL = process.env.MEDIALIB_E2E_PG_URL || '';
const pgDatabases = new Map();

function psql(sql) {
  const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', PG_URL, '-c', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql ${sql}: ${r.error?.message || r.stderr}`);
}

/** The URL of the database of one data dir on PG_URL's server. */
function pgUrlFor(name) {
  const m = /^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?(.*)$/.exec(PG_URL);
  if (!m) throw new Error(`MEDIALIB_E2E_PG_URL is not a postgres:// URL: ${PG_URL}`);
  return `${m[1]}/${name}${m[3]}`;
}

/**
 * Environment that points the server or the CLI at the database of dataDir:
 * {} on SQLite (the database is a file in the data dir), MEDIALIB_DATABASE_URL
 * on PostgreSQL (the database is made now if it does not exist yet).
 */
export function dbEnv(dataDir) {
  if (!PG_URL) return {};
  const key = path.resolve(dataDir);
  let name = pgDatabases.get(key);
  if (!name) {
    name = `e2e_${crypto.createHash('sha256').update(key).digest('hex').slice(0, 20)}`;
    psql(`CREATE DATABASE ${name}`);
    pgDatabases.set(key, name);
  }
  return { MEDIALIB_DATABASE_URL: pgUrlFor(name) };
}

/** Drops the database of dataDir (PostgreSQL only; the server has exited). */
function dropDb(dataDir) {
  const key = path.resolve(dataDir);
  const name = pgDatabases.get(key);
  if (!name) return;
  pgDatabases.delete(key);
  psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A free TCP port on 127.0.0.1 (bind port 0, read it, release it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Every file (not directory) under dir, as relative POSIX paths; [] when dir is missing. */
export async function walkDir(dir) {
  const out = [];
  async function walk(rel) {
    let entries;
    try {
      entries = await fsp.readdir(path.join(dir, rel), { withFileTypes: true });
    } catch (e) {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return;
      throw e;
    }
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else out.push(p);
    }
  }
  await walk('');
  return out.sort();
}

const describeExit = ({ code, signal }) => (signal ? `signal ${signal}` : `exit code ${code}`);

/**
 * Starts `medialib serve` on a free port with a fresh data dir.
 * options: env (extra/override variables), openWrites (default true: sets
 * MEDIALIB_INSECURE_OPEN_WRITES=1), dataDir (reuse one, e.g. after a restart).
 * Returns {baseUrl, port, pid, dataDir, root, logs(), logMark(), printLogs(),
 * signal(), exited, rssKiB(), stop()}.
 */
export async function startServer({ env = {}, openWrites = true, dataDir, readyTimeout = 30_000 * SLOW } = {}) {
  if (!fs.existsSync(BIN)) throw new Error(`medialib binary not found at ${BIN} (build it or set MEDIALIB_BIN)`);
  const root = dataDir ? path.dirname(dataDir) : await fsp.mkdtemp(path.join(os.tmpdir(), 'medialib-e2e-'));
  dataDir ??= path.join(root, 'data');
  await fsp.mkdir(dataDir, { recursive: true });
  const port = await freePort();
  // The blob store (lib/store.mjs): $DATA_DIR/blobs, or a bucket of this data dir's own.
  const backend = await backendFor(dataDir, env);

  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('MEDIALIB_') && !k.startsWith('CLOUDINARY_')),
  );
  const childEnv = {
    ...inherited,
    MEDIALIB_LISTEN: `127.0.0.1:${port}`,
    MEDIALIB_DATA_DIR: dataDir,
    MEDIALIB_LOG: 'info',
    // Background renders of eager presets would add files to the data dir at
    // times the tests do not control; the tests that need them turn them on.
    MEDIALIB_EAGER_PRESETS: '',
    ...(openWrites ? { MEDIALIB_INSECURE_OPEN_WRITES: '1' } : {}),
    ...(env.MEDIALIB_DATABASE_URL ? {} : dbEnv(dataDir)),
    ...backend.env,
    ...env,
  };
  // cwd is the temp root, so a relative path written by mistake lands where walkDir looks.
  const child = spawn(BIN, ['serve'], { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);

  const logFile = fs.createWriteStream(path.join(root, `server-${port}.log`));
  const chunks = [];
  let logBytes = 0;
  const onData = (d) => {
    chunks.push(d);
    logBytes += d.length;
    // 'exit' can come before the last bytes of the pipes: stop() may have
    // closed the log file by then (the bytes stay in `chunks`).
    if (!logFile.writableEnded) logFile.write(d);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    const done = (info) => {
      if (exitInfo) return;
      exitInfo = info;
      running.delete(child);
      resolve(info);
    };
    child.on('exit', (code, signal) => done({ code, signal }));
    child.on('error', (e) => done({ code: null, signal: null, error: e }));
  });

  const logs = (from = 0) => Buffer.concat(chunks).subarray(from).toString('utf8');
  const tail = (n = 60) => logs().split('\n').slice(-n).join('\n');
  const baseUrl = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + readyTimeout;
  for (;;) {
    if (exitInfo) throw new Error(`medialib exited before it was ready (${describeExit(exitInfo)}${exitInfo.error ? `: ${exitInfo.error.message}` : ''}); log:\n${tail()}`);
    try {
      const r = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`medialib did not answer GET /healthz 200 within ${readyTimeout} ms; log:\n${tail()}`);
    }
    await sleep(50);
  }

  return {
    baseUrl,
    port,
    pid: child.pid,
    dataDir,
    root,
    exited,
    /** Environment for the CLI on this server's database (see dbEnv). */
    dbEnv: () => dbEnv(dataDir),
    logs,
    logMark: () => logBytes,
    /** Prints the server log written since `mark` (a logMark() value). */
    printLogs(mark = 0, why = 'test failed') {
      const text = logs(mark).split('\n').slice(-200).join('\n');
      process.stderr.write(`\n---- medialib log (${why}) ----\n${text}\n---- end of medialib log ----\n`);
    },
    signal: (sig) => child.kill(sig),
    isRunning: () => !exitInfo,
    /** Resident memory of the server process, from /proc: {rss, hwm} in KiB. */
    rssKiB() {
      const s = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const get = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1]);
      return { rss: get('VmRSS'), hwm: get('VmHWM') };
    },
    /**
     * SIGTERM (signal: null = already sent), then wait for the exit; throws
     * unless the exit code is 0. Removes the temp dir afterwards unless
     * keepData or MEDIALIB_E2E_KEEP=1.
     */
    async stop({ timeout = 20_000 * SLOW, keepData = false, signal = 'SIGTERM' } = {}) {
      if (!exitInfo && signal) child.kill(signal);
      let timer;
      const res = await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, timeout, null)))]);
      clearTimeout(timer);
      if (!res) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`medialib did not exit within ${timeout} ms of SIGTERM; log:\n${tail()}`);
      }
      await new Promise((r) => logFile.end(r));
      if (res.code !== 0) throw new Error(`medialib ended with ${describeExit(res)}, expected exit code 0; log:\n${tail()}`);
      if (!keepData && !KEEP) {
        await fsp.rm(root, { recursive: true, force: true });
        dropDb(dataDir);
      }
      return res;
    },
  };
}

/**
 * Registers before/after hooks that run one server for the test file (then
 * `setup(srv)` for fixtures), print its log when a test fails, and assert a
 * clean exit (code 0) at the end. Returns a holder whose .srv is the server.
 */
export function useServer(options = {}, setup = null) {
  const holder = { srv: null };
  let mark = 0;
  // One before hook only: Node 20 runs a file's top-level before hooks concurrently.
  before(async () => {
    holder.srv = await startServer(options);
    try {
      if (setup) await setup(holder.srv);
    } catch (e) {
      holder.srv.printLogs(0, 'fixture setup failed');
      throw e;
    }
  }, { timeout: 120_000 * SLOW });
  after(async () => {
    if (holder.srv) await holder.srv.stop();
  }, { timeout: 60_000 * SLOW });
  beforeEach(() => {
    mark = holder.srv?.logMark() ?? 0;
  });
  afterEach((t) => {
    if (!t.passed && holder.srv) holder.srv.printLogs(mark, `test "${t.name}" failed`);
  });
  return holder;
}

/** Runs `fn(srv)` against a server of its own, printing its log if fn fails; stops it (exit 0) after. */
export async function withServer(options, fn) {
  const srv = await startServer(options);
  let result;
  try {
    result = await fn(srv);
  } catch (e) {
    srv.printLogs(0, 'test failed');
    await srv.stop().catch(() => {}); // the test's own failure is the one to report
    throw e;
  }
  await srv.stop();
  return result;
}
