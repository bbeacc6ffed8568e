// 413 payload_too_large from a server with a small MEDIALIB_MAX_UPLOAD.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MediaApiError, createClient } from '../dist/index.js';
import { makePng, makePngOfSize, rejectsWith, useServer } from './helpers.mjs';

const S = useServer({ MEDIALIB_MAX_UPLOAD: '64KiB' });
const T = { timeout: 60_000 };

test('413 payload_too_large for upload and replace over MEDIALIB_MAX_UPLOAD; under it is fine', T, async () => {
  const c = createClient({ baseUrl: S.srv.baseUrl, token: S.token('ed') });
  const small = await c.upload(makePngOfSize(30_000), {}, { filename: 'small.png' });
  assert.equal(small.version, 1);
  for (const size of [100_000, 2_000_000]) {
    const e = await rejectsWith(c.upload(makePngOfSize(size), {}, { filename: 'big.png' }), MediaApiError, 413, 'payload_too_large');
    assert.ok(e.requestId);
    await rejectsWith(c.replace(small.id, makePngOfSize(size), { filename: 'big.png', onProgress: () => {} }), MediaApiError, 413, 'payload_too_large');
  }
  assert.equal((await c.get(small.id)).version, 1, 'nothing replaced');
  assert.equal((await c.list()).count, 1, 'nothing stored');
  assert.equal((await c.replace(small.id, makePng(2, 2), { filename: 'ok.png' })).version, 2);
});
