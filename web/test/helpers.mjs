// Shared set-up of the admin UI's browser tests: a real `medialib serve`
// (tests/e2e/lib/server.mjs) with an admin made by the CLI before it starts,
// Debian's chromium driven by playwright-core (which downloads nothing), test
// images made in code, and screenshots kept in test/artifacts/ (gitignored).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
process.env.MEDIALIB_BIN ||= path.resolve(here, '../../build/medialib');
process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';

const { BIN, startServer } = await import('../../tests/e2e/lib/server.mjs');
const { PNG_SIGNATURE, pngChunk } = await import('../../tests/e2e/lib/files.mjs');
export { makePng } from '../../tests/e2e/lib/files.mjs';
const { chromium } = await import('playwright-core');

export const ARTIFACTS = path.join(here, 'artifacts');
// Each run starts with no screenshots of an earlier one.
fs.rmSync(ARTIFACTS, { recursive: true, force: true });
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const ADMIN = { username: 'admin', password: 'admin-password-0123' };
export const VIEWER = { username: 'vi', password: 'viewer-password-0123' };
export const JWT_SECRET = crypto.randomBytes(32).toString('hex');

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

/** A server with the admin user, tokens required (no open writes), thumbnails rendered eagerly. */
export async function startAdminServer() {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'medialib-admin-'));
  const dataDir = path.join(root, 'data');
  await fsp.mkdir(dataDir);
  cli(dataDir, ['user', 'add', ADMIN.username, '--role', 'admin', '--password-stdin'], `${ADMIN.password}\n`);
  cli(dataDir, ['user', 'add', VIEWER.username, '--role', 'viewer', '--password-stdin'], `${VIEWER.password}\n`);
  const srv = await startServer({
    dataDir,
    openWrites: false,
    env: {
      MEDIALIB_JWT_SECRET: JWT_SECRET,
      MEDIALIB_LOG: 'warn',
      MEDIALIB_EAGER_PRESETS: 'thumbnail',
      MEDIALIB_LOGIN_MAX_FAILURES: '1000',
    },
  });
  srv.token = () => cli(dataDir, ['token', '--user', ADMIN.username]).trim();
  return srv;
}

/**
 * Debian's chromium, headless, with a fresh profile; clipboard allowed (the
 * "Copy URL" button). Returns {context, page, errors, close()}: errors gets
 * every console error and uncaught page error.
 */
export async function openBrowser({ width = 1280, height = 800 } = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/install-deps.sh installs Debian's chromium`);
  const userDataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'medialib-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width, height },
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(10_000);
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location()?.url ?? ''})`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      await fsp.rm(userDataDir, { recursive: true, force: true });
    },
  };
}

let shot = 0;
/** Saves a screenshot as test/artifacts/NN-name.png; returns its path. */
export async function screenshot(page, name, options = {}) {
  await fsp.mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${String(++shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, ...options });
  return file;
}

/** Logs in through the form and waits for the library. */
export async function logIn(page, baseUrl, { username = ADMIN.username, password = ADMIN.password } = {}) {
  await page.goto(`${baseUrl}/admin`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Media', exact: true }).waitFor();
}

/**
 * A PNG of a smooth two-colour gradient (pretty in a screenshot), padded with a
 * private ancillary chunk ("mlPd", skipped by decoders) to about `padTo` bytes,
 * so that its upload takes long enough to watch the progress bar.
 */
export function gradientPng(width, height, from, to, { padTo = 0 } = {}) {
  const row = width * 3 + 1;
  const raw = Buffer.alloc(row * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (x / width + y / height) / 2;
      for (let c = 0; c < 3; c++) raw[y * row + 1 + x * 3 + c] = Math.round(from[c] + (to[c] - from[c]) * t);
    }
  }
  const head = Buffer.alloc(13);
  head.writeUInt32BE(width, 0);
  head.writeUInt32BE(height, 4);
  head[8] = 8;
  head[9] = 2;
  const parts = [PNG_SIGNATURE, pngChunk('IHDR', head), pngChunk('IDAT', zlib.deflateSync(raw))];
  const size = parts.reduce((n, b) => n + b.length, 0) + 12;
  if (padTo > size + 12) parts.push(pngChunk('mlPd', crypto.randomBytes(padTo - size - 12)));
  parts.push(pngChunk('IEND'));
  return Buffer.concat(parts);
}

/** The RGB of the centre pixel of the image matching selector, read back through a canvas. */
export async function centrePixel(page, selector) {
  return page.evaluate(async (sel) => {
    const img = document.querySelector(sel);
    if (!img) throw new Error(`no ${sel}`);
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    return Array.from(ctx.getImageData(c.width >> 1, c.height >> 1, 1, 1).data.slice(0, 3));
  }, selector);
}

/** Asserts that rgb is within tolerance of want on every channel. */
export function assertColour(rgb, want, what, tolerance = 12) {
  const ok = rgb.every((v, i) => Math.abs(v - want[i]) <= tolerance);
  assert.ok(ok, `${what}: expected about rgb(${want}), got rgb(${rgb})`);
}
