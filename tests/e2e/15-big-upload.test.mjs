// A 1 GiB upload streamed from a generator: neither the test nor the server holds it in memory.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

import { assertMedia, blobsOf, client } from './lib/api.mjs';
import { bigPngChunks } from './lib/files.mjs';
import { multipartFrame, streamRequest } from './lib/http.mjs';
import { SLOW, useServer } from './lib/server.mjs';

const SIZE = 1 << 30;
const S = useServer({ env: { MEDIALIB_MAX_UPLOAD: '2GiB' } });

test('a 1 GiB multipart upload streams through: 201, exact size and sha256, bounded server memory, Range at the end', { timeout: 300_000 * SLOW }, async () => {
  const c = client(S.srv);
  const frame = multipartFrame({ filename: 'big.png', contentType: 'image/png', fields: { title: 'one gibibyte' } });
  const hash = crypto.createHash('sha256');
  let last = Buffer.alloc(0);
  function* body() {
    yield frame.head;
    for (const chunk of bigPngChunks(SIZE)) {
      hash.update(chunk);
      last = Buffer.concat([last, chunk]).subarray(-64);
      yield chunk;
    }
    yield frame.tail;
  }
  const res = await streamRequest(`${c.base}/api/media/`, {
    headers: { 'content-type': frame.contentType, 'content-length': frame.head.length + SIZE + frame.tail.length },
    body: body(),
    timeout: 280_000 * SLOW,
  });
  assert.equal(res.status, 201, res.text.slice(0, 500));
  const m = res.json;
  assertMedia(m, c.base, { size: SIZE, sha256: hash.digest('hex'), mime_type: 'image/png', title: 'one gibibyte', version: 1 });

  const { hwm } = S.srv.rssKiB();
  assert.ok(hwm < 768 * 1024, `server peak RSS stays well under the upload size (VmHWM ${hwm} KiB)`);

  const head = await c.head(m.url);
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(SIZE));

  const tail = await c.get(m.url, { headers: { range: `bytes=${SIZE - 64}-` } });
  assert.equal(tail.status, 206);
  assert.equal(tail.headers.get('content-range'), `bytes ${SIZE - 64}-${SIZE - 1}/${SIZE}`);
  assert.ok(tail.body.equals(last), 'the last 64 bytes are the ones sent');

  const del = await c.del(`/api/media/${m.id}/`);
  assert.equal(del.status, 200, del.text);
  assert.deepEqual(await blobsOf(S.srv.dataDir, m.id), [], 'the 1 GiB blob is removed');
});
