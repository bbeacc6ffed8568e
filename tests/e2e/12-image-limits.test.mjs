// B1, B2 and the width/height probe of TESTING.md: image bombs are refused
// from their headers, before anything decodes them, with flat memory and no
// residue; valid images get their dimensions.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertError, assertNoResidue, client, dataFiles } from './lib/api.mjs';
import { JPEG_3x2, PNG_SIGNATURE, pngChunk } from './lib/files.mjs';
import { useServer } from './lib/server.mjs';

const S = useServer({ env: { MEDIALIB_MAX_FRAMES: '100' } });
const T = { timeout: 60_000 };

/** A PNG whose IHDR claims width x height, with a tiny IDAT: a pixel flood. */
function pngClaiming(width, height) {
  const d = Buffer.alloc(13);
  d.writeUInt32BE(width, 0);
  d.writeUInt32BE(height, 4);
  d[8] = 8;
  d[9] = 2;
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', d), pngChunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])), pngChunk('IEND')]);
}

/** The 3x2 JPEG with its SOF0 rewritten to claim width x height. */
function jpegClaiming(width, height) {
  const j = Buffer.from(JPEG_3x2);
  const sof = j.indexOf(Buffer.from([0xff, 0xc0]));
  assert.ok(sof > 0, 'fixture has an SOF0');
  j.writeUInt16BE(height, sof + 5);
  j.writeUInt16BE(width, sof + 7);
  return j;
}

/** A GIF89a of `frames` 1x1 frames (15 bytes each). */
function gifFrames(frames) {
  const head = Buffer.from([...Buffer.from('GIF89a'), 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
  const frame = Buffer.from([0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0x02, 0x02, 0x44, 0x01, 0x00]);
  return Buffer.concat([head, ...Array(frames).fill(frame), Buffer.from([0x3b])]);
}

async function refused(body, filename, code) {
  const c = client(S.srv);
  const before = await dataFiles(S.srv.dataDir);
  const rssBefore = S.srv.rssKiB().rss;
  const res = await c.upload(body, { filename });
  assertError(res, 422, code);
  assert.ok(body.length < 200_000, 'the bomb itself is small');
  const grew = S.srv.rssKiB().rss - rssBefore;
  assert.ok(grew < 16 * 1024, `memory stays flat (grew ${grew} KiB)`);
  await assertNoResidue(S.srv.dataDir, before);
  return res;
}

test('B1: a PNG claiming 100,000 x 100,000 px → 422 too_many_pixels, from the header', T, async () => {
  const res = await refused(pngClaiming(100_000, 100_000), 'flood.png', 'too_many_pixels');
  assert.match(res.json.error.message, /100000 x 100000/);
});

test('B1: a JPEG claiming 65,535 x 65,535 px → 422 too_many_pixels', T, async () => {
  await refused(jpegClaiming(65535, 65535), 'flood.jpg', 'too_many_pixels');
});

test('B2: a GIF with 10,000 frames → 422 too_many_frames', T, async () => {
  await refused(gifFrames(10_000), 'frames.gif', 'too_many_frames');
});

test('B2: a GIF just over MEDIALIB_MAX_FRAMES (101) is refused; one at the limit (100) is stored', T, async () => {
  await refused(gifFrames(101), 'over.gif', 'too_many_frames');
  const m = await client(S.srv).create(gifFrames(100), { filename: 'ok.gif', contentType: 'image/gif' });
  assert.equal(m.mime_type, 'image/gif');
  assert.deepEqual([m.width, m.height], [1, 1]);
});

test('a PNG whose header is corrupt (zero width) → 422 invalid_image', T, async () => {
  await refused(pngClaiming(0, 5), 'broken.png', 'invalid_image');
});

test('a replacement is probed too: a pixel flood cannot replace a stored image', T, async () => {
  const c = client(S.srv);
  const m = await c.create(pngClaiming(4, 3), { filename: 'small.png' });
  assert.deepEqual([m.width, m.height], [4, 3]);
  const res = await c.call('PUT', `/api/media/${m.id}/file`, { headers: { 'content-type': 'image/png' }, body: pngClaiming(60_000, 60_000) });
  assertError(res, 422, 'too_many_pixels');
  const after = await c.getMedia(m.id);
  assert.equal(after.version, 1, 'the stored image is unchanged');
});
