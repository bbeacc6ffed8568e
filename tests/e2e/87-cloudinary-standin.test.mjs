// Cloudinary as the blob store, against the STAND-IN server
// (tests/cloudinary/standin.mjs, started by make test-e2e-cloudinary): the
// real service cannot be reached from here, so a local server implements the
// documented Upload API (signed, timestamps checked), destroy, the Admin API
// listing and delivery URLs, and fails on demand. Runs only in that pass; the
// rest of the suite runs there too, with delivery=proxy. These tests use
// delivery=redirect (the default), where Cloudinary's CDN serves the files and
// the transforms.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

import { client, eventually } from './lib/api.mjs';
import { fsck } from './lib/faults.mjs';
import { makePdf, makePng, makePngOfSize, sha256 } from './lib/files.mjs';
import { startServer } from './lib/server.mjs';
import { CLD_CLOUD, CLD_ENDPOINT, CLD_KEY, cloudinarySign, cloudinaryUrl, standinAssets } from './lib/store.mjs';

const skip = CLD_ENDPOINT ? false : 'needs MEDIALIB_E2E_CLOUDINARY_ENDPOINT (make test-e2e-cloudinary starts the stand-in)';
const T = { timeout: 120_000, skip };
let folderSeq = 0;

/** A server on a folder of its own in the stand-in's account. */
async function cldServer(params = {}, env = {}) {
  const prefix = `e2e87-${process.pid}-${++folderSeq}/`;
  const srv = await startServer({ env: { MEDIALIB_STORAGE_URL: cloudinaryUrl({ prefix, tries: '2', ...params }), ...env } });
  return { srv, c: client(srv), prefix };
}

const control = (p, body) =>
  fetch(`${CLD_ENDPOINT}/__standin/${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
const fail = (op, count, status = 503, mode = 'status') => control('fail', { op, count, status, mode });
const standinLog = async () => (await fetch(`${CLD_ENDPOINT}/__standin/log`)).json();
const assetsUnder = async (prefix) => (await standinAssets()).filter((a) => a.public_id.startsWith(prefix));
const get = (url, headers = {}) => fetch(url, { redirect: 'manual', headers, signal: AbortSignal.timeout(10_000) });

test('Cloudinary stand-in: each upload is one signed Upload API call under its resource type; files redirect to versioned delivery URLs that give the same bytes', T, async () => {
  const { srv, c, prefix } = await cldServer();
  try {
    const png = makePng(40, 30, { color: [10, 200, 30] });
    const img = await c.create(png, { filename: 'photo.png' });
    const pdf = await c.create(makePdf(), { filename: 'doc.pdf', contentType: 'application/pdf' });
    const assets = await assetsUnder(prefix);
    const byId = (id) => assets.filter((a) => a.public_id.startsWith(`${prefix}m/${id}/`));
    assert.equal(byId(img.id).length, 1);
    assert.equal(byId(img.id)[0].resource_type, 'image');
    assert.match(byId(img.id)[0].public_id, new RegExp(`^${prefix}m/${img.id}/v1-[0-9a-f]{16}/original$`));
    assert.equal(byId(pdf.id)[0].resource_type, 'raw', 'a PDF is a raw asset');

    // The versioned file URL: a 302 to /<cloud>/image/upload/v1/<public_id>.
    const res = await get(img.url);
    assert.equal(res.status, 302);
    const loc = res.headers.get('location');
    assert.equal(loc, `${CLD_ENDPOINT}/${CLD_CLOUD}/image/upload/v1/${byId(img.id)[0].public_id}`);
    assert.match(res.headers.get('cache-control'), /^private, max-age=\d+$/);
    const bytes = Buffer.from(await (await get(loc)).arrayBuffer());
    assert.equal(sha256(bytes), sha256(png), 'Cloudinary gives back the uploaded bytes');

    // A file browsers must not show inline goes out as an attachment.
    const pres = await get(pdf.url);
    assert.equal(pres.status, 302);
    assert.match(pres.headers.get('location'), new RegExp(`/${CLD_CLOUD}/raw/upload/(fl_attachment/)?v1/${prefix}m/${pdf.id}/`));

    // The admin UI's thumbnails come from Cloudinary: its CSP allows that
    // origin for images, and only for images.
    const admin = await c.get('/admin/');
    const csp = admin.headers.get('content-security-policy') ?? '';
    if (admin.status === 200) {
      assert.match(csp, new RegExp(`img-src 'self' data: blob: ${CLD_ENDPOINT.replace(/[.]/g, '\\.')};`));
      assert.match(csp, /connect-src 'self';/);
    }

    // The upload calls were signed with medialib's key, one per file.
    const uploads = (await standinLog()).filter((e) => e.op === 'upload' && e.public_id?.startsWith(prefix));
    assert.equal(uploads.length, 2);
    assert.ok(uploads.every((e) => e.status === 200));
  } finally {
    await srv.stop();
  }
});

test('Cloudinary stand-in: presets and transforms redirect to Cloudinary transformations (never enlarging), rendered by nobody here', T, async () => {
  const { srv, c, prefix } = await cldServer({}, { MEDIALIB_EAGER_PRESETS: 'thumbnail,small', MEDIALIB_TRANSFORMS: 'any' });
  try {
    const img = await c.create(makePng(64, 48, { color: [1, 2, 3] }), { filename: 'p.png' });
    const cases = [
      [img.variants.thumbnail, 'c_lfill,h_200,q_auto,w_200'],
      [img.variants.small, 'c_limit,q_auto,w_480'],
      [img.url.replace('/v1/', '/v1/w_100,h_50,c_fill,f_auto,q_80/'), 'c_lfill,f_auto,h_50,q_80,w_100'],
      [img.url.replace('/v1/', '/v1/f_webp/'), 'f_webp,q_auto'],
    ];
    for (const [url, want] of cases) {
      const res = await get(url, { accept: 'image/avif,image/webp,*/*' });
      assert.equal(res.status, 302, url);
      const loc = res.headers.get('location');
      assert.ok(loc.startsWith(`${CLD_ENDPOINT}/${CLD_CLOUD}/image/upload/${want}/v1/${prefix}m/${img.id}/`), `${url} -> ${loc}`);
      assert.equal(res.headers.get('vary'), null, 'Cloudinary negotiates f_auto itself');
      const fetched = await get(loc);
      assert.equal(fetched.status, 200);
      assert.equal(fetched.headers.get('x-standin-transformation'), want);
    }
    // Eager presets are not rendered locally: the CDN renders on demand.
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual((await assetsUnder(prefix)).map((a) => a.resource_type), ['image'], 'only the original is stored');
  } finally {
    await srv.stop();
  }
});

test('Cloudinary stand-in: replace stores a new public_id and destroys the old one with invalidate=true once downloads under way had their grace; a raw file is destroyed as raw', T, async () => {
  const { srv, c, prefix } = await cldServer({}, { MEDIALIB_REPLACED_GRACE_MS: '1500' });
  try {
    const m = await c.create(makePng(8, 8, { color: [5, 5, 5] }), { filename: 'a.png' });
    const [before] = await assetsUnder(`${prefix}m/${m.id}/`);
    const res = await c.upload(makePng(9, 9, { color: [6, 6, 6] }), { method: 'PATCH', path: `/api/media/${m.id}/`, filename: 'a.png' });
    assert.equal(res.status, 200, res.text);
    const replacedAt = Date.now();
    assert.ok((await assetsUnder(`${prefix}m/${m.id}/`)).some((a) => a.public_id === before.public_id),
      'the old version stays for downloads under way (MEDIALIB_REPLACED_GRACE_MS)');
    await eventually(async () => (await assetsUnder(`${prefix}m/${m.id}/`)).every((a) => a.public_id !== before.public_id), { within: 10_000 });
    assert.ok(Date.now() - replacedAt >= 1000, 'removed after the grace, not before');
    const [after] = await assetsUnder(`${prefix}m/${m.id}/`);
    assert.match(after.public_id, /\/v2-[0-9a-f]{16}\/original$/);
    const destroyed = (await standinLog()).filter((e) => e.op === 'destroy' && e.public_id === before.public_id);
    assert.deepEqual(destroyed.map((e) => [e.resource_type, e.status, String(e.invalidate)]), [['image', 200, 'true']]);

    const doc = await c.create(makePdf(), { filename: 'd.pdf', contentType: 'application/pdf' });
    const [raw] = await assetsUnder(`${prefix}m/${doc.id}/`);
    const del = await c.del(`/api/media/${doc.id}/`);
    assert.equal(del.status, 200);
    assert.equal(del.json.storage.status, 'deleted', JSON.stringify(del.json));
    const calls = (await standinLog()).filter((e) => e.op === 'destroy' && e.public_id === raw.public_id);
    assert.deepEqual(calls.map((e) => [e.resource_type, String(e.invalidate)]), [['raw', 'true']],
      'the removal job carries the content type the blob was stored with: one destroy, as raw');
    assert.deepEqual(await assetsUnder(`${prefix}m/${doc.id}/`), []);
    const rep = fsck(srv.dataDir);
    assert.equal(rep.orphans, 0, JSON.stringify(rep));
    assert.equal(rep.missing, 0, JSON.stringify(rep));
  } finally {
    await srv.stop();
  }
});

test('Cloudinary stand-in: a media deleted while its replaced version waits out the grace loses that version at once too', T, async () => {
  const { srv, c, prefix } = await cldServer({}, { MEDIALIB_REPLACED_GRACE_MS: '600000' });
  try {
    const m = await c.create(makePng(8, 8, { color: [11, 11, 11] }), { filename: 'a.png' });
    const res = await c.upload(makePng(9, 9, { color: [12, 12, 12] }), { method: 'PATCH', path: `/api/media/${m.id}/`, filename: 'a.png' });
    assert.equal(res.status, 200, res.text);
    assert.equal((await assetsUnder(`${prefix}m/${m.id}/`)).length, 2, 'the old version waits out its 10 min grace');
    const del = await c.del(`/api/media/${m.id}/`);
    assert.equal(del.status, 200);
    await eventually(async () => (await assetsUnder(`${prefix}m/${m.id}/`)).length === 0, { within: 10_000, every: 250 });
  } finally {
    await srv.stop();
  }
});

test('Cloudinary stand-in: destroy failing → DELETE answers pending, the outbox retries until Cloudinary confirms', T, async () => {
  const { srv, c, prefix } = await cldServer({}, { MEDIALIB_DELETE_DEADLINE_MS: '300' });
  try {
    const m = await c.create(makePng(8, 8, { color: [7, 7, 7] }), { filename: 'a.png' });
    await fail('destroy', 1000, 503);
    const del = await c.del(`/api/media/${m.id}/`);
    assert.equal(del.status, 200);
    assert.equal(del.json.storage.status, 'pending', JSON.stringify(del.json));
    assert.equal((await c.get(`/api/media/${m.id}/`)).status, 404, 'the record is gone at once');
    assert.equal((await assetsUnder(`${prefix}m/${m.id}/`)).length, 1, 'the asset is still there');
    await fail('destroy', 0);
    await eventually(async () => (await assetsUnder(`${prefix}m/${m.id}/`)).length === 0, { within: 30_000, every: 250 });
  } finally {
    await fail('destroy', 0);
    await srv.stop();
  }
});

test('Cloudinary stand-in: an upload failing once is retried; failing past the tries it is refused with 503 and nothing is stored', T, async () => {
  const { srv, c, prefix } = await cldServer();
  try {
    await fail('upload', 1, 500);
    const ok = await c.create(makePng(8, 8, { color: [8, 8, 8] }), { filename: 'a.png' });
    assert.equal((await assetsUnder(`${prefix}m/${ok.id}/`)).length, 1);

    await fail('upload', 10, 502);
    const before = await c.count();
    const res = await c.upload(makePng(8, 8, { color: [9, 9, 9] }), { filename: 'b.png' });
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json.error.code, 'storage_unavailable');
    await fail('upload', 0);
    assert.equal(await c.count(), before);
    assert.equal((await assetsUnder(prefix)).length, 1);

    // A lost acknowledgement: Cloudinary stored it, medialib never heard.
    // The retry overwrites the same public_id; nothing is left twice.
    await fail('upload', 1, 200, 'reset_after');
    const again = await c.create(makePng(8, 8, { color: [10, 10, 10] }), { filename: 'c.png' });
    assert.equal((await assetsUnder(`${prefix}m/${again.id}/`)).length, 1);
  } finally {
    await fail('upload', 0);
    await srv.stop();
  }
});

test('Cloudinary stand-in: a stale timestamp or a wrong secret is refused by Cloudinary → 503, readiness says so, nothing stored', T, async () => {
  const { srv, c, prefix } = await cldServer();
  try {
    await control('clock', { skew: 7200 });
    const res = await c.upload(makePng(8, 8), { filename: 'a.png' });
    assert.equal(res.status, 503, res.text);
    await control('clock', { skew: 0 });
    assert.equal((await assetsUnder(prefix)).length, 0);
  } finally {
    await control('clock', { skew: 0 });
    await srv.stop();
  }
  const prefix2 = `e2e87-${process.pid}-bad/`;
  const url = cloudinaryUrl({ prefix: prefix2, tries: '1' }).replace(/:[^:@]+@/, ':not-the-secret@');
  const bad = await startServer({ env: { MEDIALIB_STORAGE_URL: url }, readyTimeout: 2000 }).catch((e) => e);
  if (bad instanceof Error) return; // refused to become ready: that is the point
  try {
    const ready = await client(bad).get('/readyz');
    assert.equal(ready.status, 503, ready.text);
    const up = await client(bad).upload(makePng(8, 8), { filename: 'a.png' });
    assert.equal(up.status, 503, up.text);
    assert.equal((await assetsUnder(prefix2)).length, 0);
  } finally {
    await bad.stop();
  }
});

test('Cloudinary stand-in: a file above chunk_size goes up in chunks of one upload id, and comes back byte for byte', T, async () => {
  const { srv, c, prefix } = await cldServer({ chunk_size: '256KiB', delivery: 'proxy' });
  try {
    const big = makePngOfSize(1024 * 1024 + 12345);
    const m = await c.create(big, { filename: 'big.png' });
    const chunks = (await standinLog()).filter((e) => e.op === 'upload' && e.public_id?.startsWith(`${prefix}m/${m.id}/`));
    assert.equal(chunks.length, 5, '1 MiB + 12345 bytes in 256 KiB chunks');
    assert.ok(chunks.every((e) => e.chunked && e.status === 200));
    assert.equal(new Set(chunks.map((e) => e.upload_id)).size, 1, 'one upload id');
    const res = await c.get(new URL(m.url).pathname);
    assert.equal(res.status, 200, 'proxy delivery: medialib sends the bytes');
    assert.equal(sha256(res.body), sha256(big));
    const part = await c.get(new URL(m.url).pathname, { headers: { range: 'bytes=1000-1999' } });
    assert.equal(part.status, 206);
    assert.equal(sha256(part.body), sha256(big.subarray(1000, 2000)));
  } finally {
    await srv.stop();
  }
});

test('Cloudinary stand-in: fsck lists the folder with the Admin API; an asset nobody references is an orphan, --repair destroys it', T, async () => {
  const { srv, c, prefix } = await cldServer();
  try {
    await c.create(makePng(8, 8), { filename: 'a.png' });
    // An asset put there behind medialib's back, as a crash between the
    // upload and its record would leave (the outbox intent covers that
    // case; this one has none).
    const publicId = `${prefix}m/999999/v1-${crypto.randomBytes(8).toString('hex')}/original`;
    const putBehind = async (type, id, bytes) => {
      const p = { public_id: id, timestamp: String(Math.floor(Date.now() / 1000)) };
      const form = new FormData();
      for (const [k, v] of Object.entries({ ...p, api_key: CLD_KEY, signature: cloudinarySign(p) })) form.append(k, v);
      form.append('file', new Blob([bytes]), 'x.bin');
      const up = await fetch(`${CLD_ENDPOINT}/v1_1/${CLD_CLOUD}/${type}/upload`, { method: 'POST', body: form });
      assert.equal(up.status, 200, await up.text());
    };
    await putBehind('image', publicId, makePng(3, 3));
    // A raw one too: fsck knows no content type for an orphan, so it must
    // not take the image type's "not found" for "removed".
    const rawId = `${prefix}m/999998/v1-${crypto.randomBytes(8).toString('hex')}/original`;
    await putBehind('raw', rawId, Buffer.from('not an image'));
    const rep = fsck(srv.dataDir);
    assert.equal(rep.orphans, 2, JSON.stringify(rep));
    assert.equal(rep.missing, 0, JSON.stringify(rep));
    const lists = (await standinLog()).filter((e) => e.op === 'list');
    assert.ok(lists.length >= 3, 'image, video and raw are listed');
    const fixed = fsck(srv.dataDir, { repair: true });
    assert.equal(fixed.orphans, 2);
    assert.equal((await assetsUnder(publicId)).length, 0, 'the orphan is destroyed');
    assert.equal((await assetsUnder(rawId)).length, 0, 'the raw orphan is destroyed');
    const rawCalls = (await standinLog()).filter((e) => e.op === 'destroy' && e.public_id === rawId);
    assert.deepEqual(rawCalls.map((e) => e.resource_type), ['image', 'video', 'raw'],
      'without a known type every type is asked: "not found" as image is not "removed"');
    assert.equal(fsck(srv.dataDir).orphans, 0);
  } finally {
    await srv.stop();
  }
});
