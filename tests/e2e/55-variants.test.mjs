// Image variants (API.md "File delivery", TESTING.md B3-B6): presets and
// free-form transforms rendered by libvips, checked with another decoder
// (Pillow); signed URLs; caching headers; single flight; the render queue's
// 503; and cleanup of every variant blob on replace and delete.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { assertError, assertRedirect, blobsOf, client, dataFiles, eventually } from './lib/api.mjs';
import { assertClean, fsck } from './lib/faults.mjs';
import { makePdf } from './lib/files.mjs';
import { request, sleep } from './lib/http.mjs';
import { BIN, startServer, useServer } from './lib/server.mjs';
import { removeBlob } from './lib/store.mjs';

const KEY = 'e2e-url-signing-key-0123456789';
const S = useServer({ env: { MEDIALIB_URL_SIGNING_KEY: KEY, MEDIALIB_EAGER_PRESETS: '' } });
const T = { timeout: 120_000 };
const PY = '/usr/bin/python3'; // Debian's, with python3-pil
const IMGTOOL = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lib', 'imgtool.py');

let tmpSeq = 0;
/** Makes a test image with Pillow (lib/imgtool.py); returns its bytes. */
function makeImage(kind, ...args) {
  const out = path.join(S.srv.root, `img-${process.pid}-${tmpSeq++}`);
  execFileSync(PY, [IMGTOOL, 'make', kind, out, ...args.map(String)]);
  return fs.readFileSync(out);
}

/** Decodes bytes with Pillow: {format, width, height, exif_tags, gps, icc, corners, ...}. */
function inspect(bytes) {
  const f = path.join(S.srv.root, `out-${process.pid}-${tmpSeq++}`);
  fs.writeFileSync(f, bytes);
  return JSON.parse(execFileSync(PY, [IMGTOOL, 'inspect', f], { encoding: 'utf8' }));
}

/** The container format from magic bytes. */
function magic(buf) {
  if (buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (buf.subarray(0, 4).toString('latin1') === 'RIFF' && buf.subarray(8, 12).toString('latin1') === 'WEBP') return 'webp';
  if (buf.subarray(4, 8).toString('latin1') === 'ftyp' && /avi[fs]/.test(buf.subarray(8, 12).toString('latin1'))) return 'avif';
  return 'unknown';
}

/** Width and height of an AVIF from its 'ispe' box (Pillow 9 cannot read AVIF). */
function avifSize(buf) {
  const i = buf.indexOf(Buffer.from('ispe'));
  assert.ok(i > 0, 'AVIF has an ispe box');
  return { width: buf.readUInt32BE(i + 8), height: buf.readUInt32BE(i + 12) };
}

const pathOf = (url) => new URL(url).pathname;
const variantUrl = (m, seg) => `${S.srv.baseUrl}/media/${m.id}/v${m.version}/${seg}/${encodeURIComponent(m.filename)}`;

function sign(url, env = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MEDIALIB_')));
  return execFileSync(BIN, ['sign', url], { env: { ...clean, MEDIALIB_URL_SIGNING_KEY: KEY, ...env }, encoding: 'utf8' }).trim();
}

async function get(url, headers = {}) {
  return request(S.srv.baseUrl, 'GET', pathOf(url), { headers });
}

test('presets: the media JSON lists them; t_thumbnail is a 200x200 JPEG with immutable caching, ETag, 304 and Range', T, async () => {
  const c = client(S.srv);
  const m = await c.create(makeImage('jpeg', 800, 600), { filename: 'photo.jpg', contentType: 'image/jpeg' });
  assert.deepEqual(Object.keys(m.variants).sort(), ['large', 'medium', 'small', 'thumbnail']);
  assert.equal(m.variants.thumbnail, variantUrl(m, 't_thumbnail'));
  const res = await get(m.variants.thumbnail);
  assert.equal(res.status, 200, res.text.slice(0, 300));
  assert.equal(res.headers.get('content-type'), 'image/jpeg');
  assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(res.headers.get('accept-ranges'), 'bytes');
  assert.match(res.headers.get('etag'), /^"[0-9a-f]{32}"$/);
  assert.ok(res.headers.get('last-modified'));
  const info = inspect(res.body);
  assert.equal(info.format, 'JPEG');
  assert.deepEqual([info.width, info.height], [200, 200]);
  // Conditional and ranged requests, as for originals.
  const again = await get(m.variants.thumbnail, { 'if-none-match': res.headers.get('etag') });
  assert.equal(again.status, 304);
  const part = await get(m.variants.thumbnail, { range: 'bytes=0-9' });
  assert.equal(part.status, 206);
  assert.deepEqual(part.body, res.body.subarray(0, 10));
  assert.equal(part.headers.get('content-range'), `bytes 0-9/${res.body.length}`);
  // A second GET serves the stored variant: same bytes, same ETag.
  const second = await get(m.variants.thumbnail);
  assert.equal(second.headers.get('etag'), res.headers.get('etag'));
  assert.deepEqual(second.body, res.body);
  // small/medium/large are widths, never upscaled past the 800 px source.
  for (const [name, w] of [['small', 480], ['medium', 800], ['large', 800]]) {
    const v = await get(m.variants[name]);
    assert.equal(v.status, 200);
    const i = inspect(v.body);
    assert.deepEqual([i.width, i.height], [w, (w * 600) / 800], `${name} is ${w} wide`);
  }
  // Not images: no variants, and a transform is 415.
  const pdf = await c.create(makePdf(), { filename: 'doc.pdf', contentType: 'application/pdf' });
  assert.deepEqual(pdf.variants, {});
  assertError(await get(variantUrl(pdf, 't_thumbnail')), 415, 'unsupported_media_type');
});

test('B4: free-form transforms are 403 unless signed; a sweep of sizes creates no file', T, async () => {
  const c = client(S.srv);
  const m = await c.create(makeImage('png', 300, 200), { filename: 'sweep.png' });
  const before = await dataFiles(S.srv.dataDir);
  for (let w = 1; w <= 60; w++) {
    assertError(await get(variantUrl(m, `w_${w}`)), 403, 'forbidden');
  }
  assert.deepEqual([...(await dataFiles(S.srv.dataDir))].filter((p) => !before.has(p)), [], 'no derived file was made');
  // Malformed transforms and unknown presets are 400, not rendered.
  for (const seg of ['w_0', 'w_01', 'w_9999', 'q_101', 'x_1', 'w_10,w_20', 't_nope', 'c_fill,w_10']) {
    assertError(await get(variantUrl(m, seg)), 400, 'bad_request');
  }
  // Signed: medialib sign makes a URL this server accepts.
  const signed = sign(variantUrl(m, 'w_120,h_120,c_fill'));
  assert.match(signed, /\/s_[A-Za-z0-9_-]{22}\/c_fill,h_120,w_120\/sweep\.png$/, signed);
  const ok = await get(signed);
  assert.equal(ok.status, 200, ok.text.slice(0, 300));
  const info = inspect(ok.body);
  assert.equal(info.format, 'PNG');
  assert.deepEqual([info.width, info.height], [120, 120]);
  // The signature covers the transform, the file and the key.
  const sigSeg = /\/(s_[^/]+)\//.exec(signed)[1];
  assertError(await get(variantUrl(m, `${sigSeg}/c_fill,h_121,w_120`)), 403, 'forbidden');
  const other = await c.create(makeImage('png', 300, 200), { filename: 'sweep.png' });
  assertError(await get(variantUrl(other, `${sigSeg}/c_fill,h_120,w_120`)), 403, 'forbidden');
  assertError(await get(sign(variantUrl(m, 'w_50'), { MEDIALIB_URL_SIGNING_KEY: 'another-key-0123456789' })), 403, 'forbidden');
  assertError(await get(variantUrl(m, 's_short/w_50')), 403, 'forbidden');
});

test('fit, fill and limit: output sizes, never upscaled; formats by magic bytes', T, async () => {
  const srv = await startServer({ env: { MEDIALIB_TRANSFORMS: 'any', MEDIALIB_EAGER_PRESETS: '' } });
  try {
    const c = client(srv);
    const m = await c.create(makeImage('jpeg', 800, 400), { filename: 'wide.jpg', contentType: 'image/jpeg' });
    const url = (seg) => `${srv.baseUrl}/media/${m.id}/v${m.version}/${seg}/wide.jpg`;
    const cases = [
      ['w_300', 300, 150],
      ['h_100', 200, 100],
      ['w_300,h_300', 300, 150], // fit: within the box
      ['c_limit,w_300,h_300', 300, 150],
      ['c_fill,w_300,h_300', 300, 300], // fill: the box, cropped
      ['c_fill,w_100,h_300', 100, 300],
      ['w_2000', 800, 400], // never upscaled
      ['c_fill,w_1000,h_1000', 400, 400], // fill past the source: the largest square it holds
      ['q_40', 800, 400],
    ];
    for (const [seg, w, h] of cases) {
      const res = await request(srv.baseUrl, 'GET', pathOf(url(seg)));
      assert.equal(res.status, 200, `${seg}: ${res.text.slice(0, 300)}`);
      const i = inspect(res.body);
      assert.deepEqual([i.width, i.height], [w, h], `${seg} gives ${w}x${h}`);
    }
    for (const [fmt, want] of [['jpeg', 'jpeg'], ['png', 'png'], ['webp', 'webp'], ['avif', 'avif']]) {
      const res = await request(srv.baseUrl, 'GET', pathOf(url(`f_${fmt},w_64`)));
      assert.equal(res.status, 200, `f_${fmt}: ${res.text.slice(0, 300)}`);
      assert.equal(magic(res.body), want, `f_${fmt} is ${want} by its magic bytes`);
      assert.equal(res.headers.get('content-type'), `image/${want}`);
      const size = want === 'avif' ? avifSize(res.body) : inspect(res.body);
      assert.deepEqual([size.width, size.height], [64, 32]);
      assert.match(res.headers.get('content-disposition') ?? '', new RegExp(`wide\\.${want === 'jpeg' ? 'jpg' : want}`));
    }
  } finally {
    await srv.stop();
  }
});

test('B5: EXIF, GPS and serial numbers are gone from every variant; orientation is applied; the ICC profile is kept', T, async () => {
  const c = client(S.srv);
  // 400x200 stored pixels with EXIF orientation 6 (rotate 90° clockwise to display).
  const src = makeImage('jpeg-exif', 400, 200, 6);
  const before = inspect(src);
  assert.ok(before.gps && before.serial_in_bytes && before.icc, 'the fixture has GPS, a serial number and an ICC profile');
  const m = await c.create(src, { filename: 'cam.jpg', contentType: 'image/jpeg' });
  assert.deepEqual([m.width, m.height], [200, 400], 'width and height are as displayed');
  for (const name of ['thumbnail', 'small']) {
    const res = await get(m.variants[name]);
    assert.equal(res.status, 200);
    const i = inspect(res.body);
    assert.equal(i.has_exif_bytes, false, `${name}: no EXIF block`);
    assert.equal(i.gps, false, `${name}: no GPS`);
    assert.equal(i.serial_in_bytes, false, `${name}: no serial number`);
    assert.equal(i.make_in_bytes, false, `${name}: no camera make`);
    assert.equal(i.icc, true, `${name}: the ICC profile is kept`);
  }
  const small = inspect((await get(m.variants.small)).body);
  assert.deepEqual([small.width, small.height], [200, 400], 'the displayed size, not upscaled');
  // Rotated 90° clockwise: the stored top-left (red) is now top-right,
  // the stored bottom-left (blue) is now top-left.
  const near = (a, b) => a.every((v, k) => Math.abs(v - b[k]) < 60);
  assert.ok(near(small.corners.tr, [255, 0, 0]), `top-right is red: ${JSON.stringify(small.corners)}`);
  assert.ok(near(small.corners.tl, [0, 0, 255]), `top-left is blue: ${JSON.stringify(small.corners)}`);
  assert.ok(near(small.corners.br, [0, 255, 0]), `bottom-right is green: ${JSON.stringify(small.corners)}`);
});

test('f_auto picks AVIF, WebP or the original from Accept and answers Vary: Accept', T, async () => {
  const srv = await startServer({ env: { MEDIALIB_PRESETS: 'auto=w_100,f_auto', MEDIALIB_EAGER_PRESETS: '' } });
  try {
    const c = client(srv);
    const m = await c.create(makeImage('png', 200, 100), { filename: 'a.png' });
    const cases = [
      ['image/avif,image/webp,*/*', 'avif'],
      ['image/webp,*/*;q=0.8', 'webp'],
      ['image/avif;q=0,image/webp', 'webp'],
      ['*/*', 'png'],
      [undefined, 'png'],
    ];
    for (const [accept, want] of cases) {
      const res = await request(srv.baseUrl, 'GET', `/media/${m.id}/v1/t_auto/a.png`, { headers: accept ? { accept } : {} });
      assert.equal(res.status, 200, res.text.slice(0, 200));
      assert.equal(magic(res.body), want, `Accept ${accept} gives ${want}`);
      assert.equal(res.headers.get('vary'), 'Accept');
    }
    // A fixed format does not vary.
    const fixed = await request(srv.baseUrl, 'GET', `/media/${m.id}/v1/t_thumbnail/a.png`, { headers: { accept: 'image/avif' } });
    assert.equal(magic(fixed.body), 'png');
    assert.equal(fixed.headers.get('vary'), null);
  } finally {
    await srv.stop();
  }
});

test('an old version\'s variant URL redirects to the current version; signed ones are signed anew', T, async () => {
  const c = client(S.srv);
  const m = await c.create(makeImage('png', 120, 80), { filename: 'r.png' });
  const signedOld = sign(variantUrl(m, 'w_60'));
  const res = await c.upload(makeImage('png', 90, 90), { method: 'PATCH', path: `/api/media/${m.id}/`, filename: 'r.png' });
  assert.equal(res.status, 200, res.text);
  const m2 = res.json;
  assertRedirect(await get(variantUrl(m, 't_thumbnail')), S.srv.baseUrl, m2.variants.thumbnail);
  const r = await get(signedOld);
  assert.equal(r.status, 302);
  const loc = new URL(r.headers.get('location'), S.srv.baseUrl).href;
  assert.ok(loc.includes(`/media/${m.id}/v2/s_`), loc);
  const fresh = await get(loc);
  assert.equal(fresh.status, 200, fresh.text.slice(0, 200));
  assert.deepEqual([inspect(fresh.body).width], [60]);
});

test('variants are removed with their version: after replace and delete no variant blob remains; fsck is clean', T, async () => {
  const c = client(S.srv);
  const m = await c.create(makeImage('jpeg', 640, 480), { filename: 'v.jpg', contentType: 'image/jpeg' });
  for (const name of Object.keys(m.variants)) assert.equal((await get(m.variants[name])).status, 200);
  assert.equal((await get(sign(variantUrl(m, 'w_77')))).status, 200);
  const v1 = await blobsOf(S.srv.dataDir, m.id);
  assert.equal(v1.length, 6, `the original and 5 variants: ${v1}`);
  const res = await c.upload(makeImage('jpeg', 320, 240), { method: 'PATCH', path: `/api/media/${m.id}/`, filename: 'v.jpg', contentType: 'image/jpeg' });
  assert.equal(res.status, 200);
  const left = await eventually(async () => {
    const b = await blobsOf(S.srv.dataDir, m.id);
    return b.length === 1 ? b : null;
  });
  assert.ok(left, `only the new original is left after the replace: ${await blobsOf(S.srv.dataDir, m.id)}`);
  assert.ok(!v1.includes(left[0]));
  const m2 = res.json;
  assert.equal((await get(m2.variants.thumbnail)).status, 200);
  assertClean(S.srv.dataDir, 'after the replace');
  const del = await c.del(`/api/media/${m.id}/`);
  assert.equal(del.status, 200);
  assert.equal(del.json.storage.status, 'deleted');
  assert.deepEqual(await blobsOf(S.srv.dataDir, m.id), [], 'no blob of the media remains');
  assertError(await get(m2.variants.thumbnail), 404, 'not_found');
  assertClean(S.srv.dataDir, 'after the delete');
});

test('fsck: a variant whose blob is gone is reported missing; --repair drops its row and the next request renders it again', T, async () => {
  const c = client(S.srv);
  const m = await c.create(makeImage('png', 300, 300), { filename: 'gone.png' });
  assert.equal((await get(m.variants.small)).status, 200);
  assertClean(S.srv.dataDir, 'before');
  const file = (await blobsOf(S.srv.dataDir, m.id)).find((b) => b.includes('/f_png-w_480'));
  assert.ok(file, `the small variant is stored: ${await blobsOf(S.srv.dataDir, m.id)}`);
  await removeBlob(S.srv.dataDir, file);
  const rep = fsck(S.srv.dataDir);
  assert.equal(rep.missing, 1, JSON.stringify(rep));
  assert.equal(fsck(S.srv.dataDir, { repair: true }).repaired, 1);
  assertClean(S.srv.dataDir, 'after the repair');
  await sleep(1100); // the delivery cache's time to live
  const again = await get(m.variants.small);
  assert.equal(again.status, 200, again.text.slice(0, 200));
  assert.ok((await blobsOf(S.srv.dataDir, m.id)).includes(file), 'rendered and stored again');
});

test('single flight: 20 concurrent requests for a new variant render it once, all get the same bytes', T, async () => {
  const c = client(S.srv);
  const m = await c.create(makeImage('jpeg', 1600, 1200), { filename: 'sf.jpg', contentType: 'image/jpeg' });
  const mark = S.srv.logMark();
  const all = await Promise.all(Array.from({ length: 20 }, () => get(m.variants.medium)));
  for (const r of all) {
    assert.equal(r.status, 200, r.text.slice(0, 200));
    assert.deepEqual(r.body, all[0].body);
  }
  const rendered = S.srv.logs(mark).split('\n').filter((l) => l.includes('"variant.rendered"') && l.includes(`"media_id":${m.id},`));
  assert.equal(rendered.length, 1, `one render: ${rendered.join('\n')}`);
});

test('B6: more concurrent transforms than the render queue holds → 503 with Retry-After; the server stays healthy', T, async () => {
  const srv = await startServer({ env: { MEDIALIB_TRANSFORMS: 'any', MEDIALIB_RENDER_THREADS: '1', MEDIALIB_RENDER_QUEUE: '2', MEDIALIB_EAGER_PRESETS: '' } });
  try {
    const c = client(srv);
    const m = await c.create(makeImage('jpeg', 2000, 1500), { filename: 'q.jpg', contentType: 'image/jpeg' });
    const all = await Promise.all(Array.from({ length: 24 }, (_, i) =>
      request(srv.baseUrl, 'GET', `/media/${m.id}/v1/w_${1000 + i},f_png/q.jpg`, { timeout: 60_000 })));
    const busy = all.filter((r) => r.status === 503);
    const ok = all.filter((r) => r.status === 200);
    assert.ok(busy.length > 0, `some requests are refused: ${all.map((r) => r.status)}`);
    assert.ok(ok.length > 0, 'some are rendered');
    assert.equal(ok.length + busy.length, all.length, `only 200 and 503: ${all.map((r) => r.status)}`);
    for (const r of busy) {
      assertError(r, 503, 'busy');
      assert.ok(Number(r.headers.get('retry-after')) >= 1, 'Retry-After is given');
    }
    assert.equal((await request(srv.baseUrl, 'GET', '/healthz')).status, 200);
    const later = await request(srv.baseUrl, 'GET', `/media/${m.id}/v1/w_50/q.jpg`);
    assert.equal(later.status, 200, 'a later transform is served');
  } finally {
    await srv.stop();
  }
});

test('eager presets: the thumbnail is rendered in the background after upload', T, async () => {
  const srv = await startServer({ env: { MEDIALIB_EAGER_PRESETS: 'thumbnail,small' } });
  try {
    const c = client(srv);
    const m = await c.create(makeImage('png', 600, 400), { filename: 'e.png' });
    const blobs = await eventually(async () => {
      const b = await blobsOf(srv.dataDir, m.id);
      return b.length === 3 ? b : null;
    }, { within: 15_000 });
    assert.ok(blobs, `original, thumbnail and small are stored: ${await blobsOf(srv.dataDir, m.id)}`);
    assert.ok(blobs.some((b) => b.endsWith('/c_fill-f_png-h_200-w_200.png')), blobs.join());
    // Served from what the job stored: no render on request.
    const mark = srv.logMark();
    assert.equal((await request(srv.baseUrl, 'GET', pathOf(m.variants.thumbnail))).status, 200);
    assert.ok(!srv.logs(mark).includes('"variant.rendered"'), 'no render was needed');
    assertClean(srv.dataDir, 'with eager variants');
  } finally {
    await srv.stop();
  }
});

test('TIFF and AVIF uploads get their size from libvips (in a render worker), and variants', T, async () => {
  const c = client(S.srv);
  const tiff = await c.create(makeImage('tiff', 640, 320), { filename: 'scan.tif', contentType: 'image/tiff' });
  assert.equal(tiff.mime_type, 'image/tiff');
  assert.deepEqual([tiff.width, tiff.height], [640, 320]);
  const t = await get(tiff.variants.small);
  assert.equal(t.status, 200, t.text.slice(0, 200));
  assert.equal(magic(t.body), 'jpeg', 'a TIFF gives JPEG variants');
  assert.deepEqual([inspect(t.body).width, inspect(t.body).height], [480, 240]);
  // An AVIF: the server's own AVIF rendering of a JPEG, uploaded again.
  const jpg = await c.create(makeImage('jpeg', 500, 250), { filename: 'src.jpg', contentType: 'image/jpeg' });
  const avifBytes = (await get(sign(variantUrl(jpg, 'f_avif,w_400')))).body;
  assert.equal(magic(avifBytes), 'avif');
  const avif = await c.create(avifBytes, { filename: 'pic.avif', contentType: 'image/avif' });
  assert.equal(avif.mime_type, 'image/avif');
  assert.deepEqual([avif.width, avif.height], [400, 200]);
  const a = await get(avif.variants.thumbnail);
  assert.equal(a.status, 200, a.text.slice(0, 200));
  assert.equal(magic(a.body), 'avif', 'an AVIF keeps its format');
  assert.deepEqual(Object.values(avifSize(a.body)), [200, 200]);
  // A truncated AVIF: the header cannot be read → 422, nothing stored.
  const bad = await c.upload(avifBytes.subarray(0, 200), { filename: 'bad.avif', contentType: 'image/avif' });
  assert.ok([415, 422].includes(bad.status), `answered ${bad.status}: ${bad.text}`);
});

test('B3: an MVG script named .jpg is refused by its content; no process but the render workers is started', T, async () => {
  const c = client(S.srv);
  const mvg = Buffer.from('push graphic-context\nviewbox 0 0 640 480\nfill \'url(https://127.0.0.1/x.png")|ls "-la\'\npop graphic-context\n');
  assertError(await c.upload(mvg, { filename: 'exploit.jpg', contentType: 'image/jpeg' }), 415, 'unsupported_media_type');
  const msl = Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<image><read filename="/etc/passwd"/><write filename="/tmp/x.png"/></image>\n');
  assertError(await c.upload(msl, { filename: 'exploit.jpg', contentType: 'image/jpeg' }), 415, 'unsupported_media_type');
  const childrenOf = (pid) => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
    } catch {
      return false;
    }
  });
  // Earlier tests rendered images: the server's only children are its
  // render workers, and they start nothing (no delegate, no shell).
  const children = childrenOf(S.srv.pid);
  assert.ok(children.length > 0, 'the earlier renders ran in worker processes');
  for (const p of children) {
    const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    assert.equal(argv[0], 'medialib-render', `child ${p} is a render worker: ${argv.join(' ')}`);
    assert.deepEqual(childrenOf(Number(p)), [], `render worker ${p} has no child process`);
  }
});

test('the render workers: the server process never loads libvips; a worker that dies is replaced', T, async () => {
  const maps = fs.readFileSync(`/proc/${S.srv.pid}/maps`, 'utf8');
  assert.ok(!/libvips/.test(maps), 'libvips is not mapped into the server');
  const c = client(S.srv);
  const m = await c.create(makeImage('jpeg', 300, 200), { filename: 'w.jpg', contentType: 'image/jpeg' });
  assert.equal((await get(m.variants.small)).status, 200);
  const workers = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0] === 'medialib-render' &&
        fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(S.srv.pid);
    } catch {
      return false;
    }
  });
  assert.ok(workers.length > 0);
  for (const p of workers) process.kill(Number(p), 'SIGKILL');
  // The next render finds its worker gone and starts a new one.
  const again = await get(m.variants.thumbnail);
  assert.ok([200, 422].includes(again.status), `answered ${again.status}`);
  const next = await get(m.variants.medium);
  assert.equal(next.status, 200, next.text.slice(0, 200));
  assert.equal((await request(S.srv.baseUrl, 'GET', '/healthz')).status, 200);
});
