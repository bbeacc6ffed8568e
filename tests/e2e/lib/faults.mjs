// Storage fault injection and reconciliation helpers (test builds only).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';

import { BIN, dbEnv } from './server.mjs';
import { backendEnv } from './store.mjs';

/** Does this binary have the test-only fault hooks (MEDIALIB_TEST_FAULTS)? */
export function hasFaultHooks() {
  try {
    return /test build/.test(execFileSync(BIN, ['version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

/** A fault file the server re-reads on every store call: set(rules) / clear(). */
export async function faultFile(root) {
  const file = path.join(root, 'faults');
  await fsp.writeFile(file, '');
  return {
    env: { MEDIALIB_TEST_FAULTS: `@${file}` },
    set: (rules) => fsp.writeFile(file, rules),
    clear: () => fsp.writeFile(file, ''),
  };
}

/** Runs `medialib fsck --json --grace 0` on a data dir; returns the report. */
export function fsck(dataDir, { repair = false } = {}) {
  const args = ['fsck', '--json', '--grace', '0', ...(repair ? ['--repair'] : [])];
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MEDIALIB_')));
  const r = spawnSync(BIN, args, { env: { ...env, ...dbEnv(dataDir), ...backendEnv(dataDir), MEDIALIB_DATA_DIR: dataDir, MEDIALIB_LOG: 'error' }, encoding: 'utf8' });
  assert.ok(r.status === 0 || r.status === 1, `fsck failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** Asserts that fsck finds no orphan and no missing blob. */
export function assertClean(dataDir, why = '') {
  const rep = fsck(dataDir);
  assert.equal(rep.orphans, 0, `fsck: no orphan blobs ${why} (${JSON.stringify(rep)})`);
  assert.equal(rep.missing, 0, `fsck: no missing blobs ${why} (${JSON.stringify(rep)})`);
  return rep;
}
