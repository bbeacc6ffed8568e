// Tests of the Cloudinary stand-in itself (tests/cloudinary/standin.mjs): that
// it answers Cloudinary's documented endpoints the way the blob store's tests
// rely on, refuses what Cloudinary refuses, and that its test controls work.
// Run with: node --test tests/cloudinary/
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./standin.mjs', import.meta.url));
const CLOUD = 'demo';
const KEY = '123456789012345';
const SECRET = 'standin-secret';

// Sample bytes: the stand-in only looks at magic numbers. Each includes CRLFs
// and dashes so that the multipart parser sees binary that looks like framing.
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from('\r\n--\r\n----formdata\0\xff\r\n\r\n', 'latin1'),
  crypto.randomBytes(300)]);
const JPEG = Buffer.concat([Buffer.from('ffd8ffe000104a464946', 'hex'), crypto.randomBytes(200)]);
const MP4 = Buffer.concat([Buffer.from('00000018', 'hex'), Buffer.from('ftypisom\0\0\x02\0isomiso2', 'latin1'), crypto.randomBytes(100)]);
const TEXT = Buffer.from('just some text, not an image\n');

async function startStandin(dir, extra = []) {
  const child = spawn(process.execPath, [SERVER, '--dir', dir, '--port', '0', '--cloud', CLOUD, '--key', KEY,
    '--secret', SECRET, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const rl = readline.createInterface({ input: child.stdout });
  const banner = await new Promise((resolve, reject) => {
    rl.once('line', (l) => resolve(JSON.parse(l)));
    child.once('exit', (code) => reject(new Error(`stand-in exited (${code}) at start: ${stderr}`)));
  });
  rl.on('line', (l) => lines.push(l));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    banner,
    lines,
    base: `http://127.0.0.1:${banner.port}`,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

async function tempDir() {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'cld-standin-test-'));
}

const now = () => Math.floor(Date.now() / 1000);

// Cloudinary's signature over the signed parameters, as a client computes it.
function sign(params, algo = 'sha1', secret = SECRET) {
  const str = Object.keys(params)
    .filter((k) => params[k] !== '' && !['file', 'cloud_name', 'resource_type', 'api_key', 'signature'].includes(k))
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  return crypto.createHash(algo).update(str + secret).digest('hex');
}

function signed(params, algo) {
  const p = { timestamp: String(now()), ...params };
  return { ...p, api_key: KEY, signature: sign(p, algo) };
}

async function jsonOf(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// A multipart upload through fetch's FormData (a standard encoder). fields
// are sent as given (already signed or deliberately not).
async function postForm(s, urlPath, fields, file, { headers = {}, filename = 'sample.bin' } = {}) {
  const fd = new FormData();
  if (file) fd.append('file', new Blob([file]), filename);
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  const res = await fetch(`${s.base}${urlPath}`, { method: 'POST', body: fd, headers });
  return { status: res.status, json: await jsonOf(res), headers: res.headers };
}

const upload = (s, rt, file, params = {}, opts = {}) =>
  postForm(s, `/v1_1/${CLOUD}/${rt}/upload`, signed(params, opts.algo), file, opts);

async function destroy(s, rt, params) {
  const res = await fetch(`${s.base}/v1_1/${CLOUD}/${rt}/destroy`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(signed(params)).toString(),
  });
  return { status: res.status, json: await jsonOf(res) };
}

const basic = (user = KEY, pass = SECRET) => ({ Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });

async function admin(s, urlPath, headers = basic()) {
  const res = await fetch(`${s.base}/v1_1/${CLOUD}${urlPath}`, { headers });
  return { status: res.status, json: await jsonOf(res) };
}

async function get(s, urlPath, headers = {}, method = 'GET') {
  const res = await fetch(`${s.base}${urlPath}`, { headers, method });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function control(s, what, body) {
  const res = await fetch(`${s.base}/__standin/${what}`, body === undefined ? {} : {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, `control ${what}`);
  return res.json();
}

// A request on a fresh connection, with a raw body: for hand-made multipart.
function rawRequest(s, method, urlPath, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${s.base}${urlPath}`, { method, headers: { ...headers, Connection: 'close' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, json: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('Cloudinary stand-in', () => {
  let s;
  let dir;
  before(async () => {
    dir = await tempDir();
    s = await startStandin(dir);
  });
  after(async () => {
    await s.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  test('its banner says it is a stand-in', () => {
    assert.match(s.banner.msg, /stand-in/);
    assert.match(s.banner.msg, /not Cloudinary/);
    assert.equal(s.banner.cloud, CLOUD);
  });

  test('usage answers with Basic auth only', async () => {
    assert.deepEqual(await admin(s, '/usage'), { status: 200, json: { plan: 'stand-in' } });
    assert.deepEqual(await admin(s, '/usage', basic(KEY, 'wrong')), { status: 401, json: { error: { message: 'Invalid credentials' } } });
    assert.equal((await admin(s, '/usage', {})).status, 401);
  });

  test('upload: a signed image upload answers Cloudinary\'s fields and is delivered', async () => {
    const before = now();
    const r = await upload(s, 'image', PNG, { public_id: 'up/one', invalidate: 'true' }, { filename: 'holiday.png' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const j = r.json;
    assert.match(j.asset_id, /^[0-9a-f]{32}$/);
    assert.equal(j.public_id, 'up/one');
    assert.ok(Number.isInteger(j.version) && j.version >= before);
    assert.match(j.version_id, /^[0-9a-f]{32}$/);
    assert.equal(j.signature, crypto.createHash('sha1').update(`public_id=up/one&version=${j.version}${SECRET}`).digest('hex'));
    assert.equal(j.format, 'png');
    assert.equal(j.resource_type, 'image');
    assert.match(j.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(j.bytes, PNG.length);
    assert.equal(j.type, 'upload');
    assert.equal(j.etag, crypto.createHash('md5').update(PNG).digest('hex'));
    assert.equal(j.url, `${s.base}/${CLOUD}/image/upload/v${j.version}/up/one.png`);
    assert.equal(j.secure_url, j.url);
    assert.equal(j.original_filename, 'holiday');
    const d = await get(s, new URL(j.url).pathname);
    assert.equal(d.status, 200);
    assert.deepEqual(d.body, PNG);
  });

  test('upload: SHA-256 signatures are accepted too', async () => {
    const r = await upload(s, 'image', JPEG, { public_id: 'up/sha256' }, { algo: 'sha256' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.format, 'jpg');
  });

  test('upload: a hand-made multipart body (unquoted name, no filename, binary) is parsed', async () => {
    const fields = signed({ public_id: 'up/handmade', overwrite: 'true' });
    const b = 'XyZ-boundary';
    const parts = [Buffer.from(`preamble\r\n--${b}\r\nContent-Disposition: form-data; name=file; filename="x.png"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n'), PNG, Buffer.from(`\r\n--${b}-not-yet`)];
    for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`\r\n--${b}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}`));
    parts.push(Buffer.from(`\r\n--${b}--\r\n`));
    // The "-not-yet" line is part of the file's bytes: the boundary there is
    // followed by neither CRLF nor "--", so it is not a delimiter.
    const expected = Buffer.concat([PNG, Buffer.from(`\r\n--${b}-not-yet`)]);
    const r = await rawRequest(s, 'POST', `/v1_1/${CLOUD}/image/upload`,
      { 'Content-Type': `multipart/form-data; boundary="${b}"` }, Buffer.concat(parts));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.bytes, expected.length);
    assert.deepEqual((await get(s, `/${CLOUD}/image/upload/up/handmade.png`)).body, expected);
  });

  test('upload: a data URI in the file field is decoded', async () => {
    const fields = signed({ public_id: 'up/datauri' });
    const r = await postForm(s, `/v1_1/${CLOUD}/raw/upload`, { ...fields, file: `data:text/plain;base64,${TEXT.toString('base64')}` });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual((await get(s, `/${CLOUD}/raw/upload/up/datauri`)).body, TEXT);
  });

  test('upload: a wrong signature is refused with the string to sign', async () => {
    const p = { public_id: 'sig/x', timestamp: String(now()) };
    const fields = { ...p, api_key: KEY, signature: sign(p, 'sha1', 'not-the-secret') };
    const r = await postForm(s, `/v1_1/${CLOUD}/image/upload`, fields, PNG);
    assert.equal(r.status, 401);
    assert.equal(r.json.error.message, `Invalid Signature ${fields.signature}. String to sign - 'public_id=sig/x&timestamp=${p.timestamp}'.`);
    const missing = await postForm(s, `/v1_1/${CLOUD}/image/upload`, { ...p, api_key: KEY }, PNG);
    assert.equal(missing.status, 401);
    assert.match(missing.json.error.message, /^Invalid Signature /);
    // A signed parameter changed after signing.
    const tampered = await postForm(s, `/v1_1/${CLOUD}/image/upload`, { ...signed({ public_id: 'sig/x' }), public_id: 'sig/y' }, PNG);
    assert.equal(tampered.status, 401);
    // Empty values are not signed; cloud_name and resource_type are not either.
    const ok = await postForm(s, `/v1_1/${CLOUD}/image/upload`, { ...signed({ public_id: 'sig/x' }), tags: '', cloud_name: CLOUD }, PNG);
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    const assets = await control(s, 'assets');
    assert.ok(!assets.some((a) => a.public_id === 'sig/y'), 'nothing stored by a refused request');
  });

  test('upload: a wrong api_key is refused', async () => {
    const fields = { ...signed({ public_id: 'sig/key' }), api_key: '999' };
    const r = await postForm(s, `/v1_1/${CLOUD}/image/upload`, fields, PNG);
    assert.deepEqual([r.status, r.json], [401, { error: { message: 'Invalid api_key 999' } }]);
  });

  test('upload: a timestamp more than an hour off is refused as stale', async () => {
    for (const ts of [now() - 3700, now() + 3700]) {
      const r = await upload(s, 'image', PNG, { public_id: 'stale/x', timestamp: String(ts) });
      assert.equal(r.status, 401);
      assert.equal(r.json.error.message, `Stale request - reported time is ${ts} which is more than 1 hour ago`);
    }
    const fine = await upload(s, 'image', PNG, { public_id: 'stale/x', timestamp: String(now() - 3000) });
    assert.equal(fine.status, 200);
    // The stand-in's clock two hours ahead makes a correct client look stale.
    await control(s, 'clock', { skew: 7200 });
    try {
      const r = await upload(s, 'image', PNG, { public_id: 'stale/y' });
      assert.equal(r.status, 401);
      assert.match(r.json.error.message, /^Stale request - reported time is \d+ which is more than 1 hour ago$/);
      const d = await destroy(s, 'image', { public_id: 'stale/x' });
      assert.equal(d.status, 401);
    } finally {
      await control(s, 'clock', { skew: 0 });
    }
    assert.equal((await upload(s, 'image', PNG, { public_id: 'stale/y' })).status, 200);
  });

  test('upload: missing file, non-images, non-videos are refused; raw takes anything', async () => {
    assert.deepEqual(await upload(s, 'image', null, { public_id: 'bad/none' }).then((r) => [r.status, r.json]),
      [400, { error: { message: 'Missing required parameter - file' } }]);
    assert.deepEqual(await upload(s, 'image', TEXT, { public_id: 'bad/img' }).then((r) => [r.status, r.json]),
      [400, { error: { message: 'Invalid image file' } }]);
    assert.deepEqual(await upload(s, 'video', PNG, { public_id: 'bad/vid' }).then((r) => [r.status, r.json]),
      [400, { error: { message: 'Invalid video file' } }]);
    assert.deepEqual(await upload(s, 'raw', Buffer.alloc(0), { public_id: 'bad/empty' }).then((r) => [r.status, r.json]),
      [400, { error: { message: 'Empty file' } }]);
    const v = await upload(s, 'video', MP4, { public_id: 'ok/vid' });
    assert.equal(v.status, 200);
    assert.equal(v.json.format, 'mp4');
    assert.equal(v.json.url, `${s.base}/${CLOUD}/video/upload/v${v.json.version}/ok/vid.mp4`);
    const r = await upload(s, 'raw', TEXT, { public_id: 'ok/notes.txt' });
    assert.equal(r.status, 200);
    assert.equal(r.json.format, undefined);
    assert.equal(r.json.url, `${s.base}/${CLOUD}/raw/upload/v${r.json.version}/ok/notes.txt`);
    const svg = await upload(s, 'image', Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>'), { public_id: 'ok/svg' });
    assert.equal(svg.json.format, 'svg');
    const assets = await control(s, 'assets');
    assert.ok(!assets.some((a) => a.public_id.startsWith('bad/')));
  });

  test('upload: without public_id a random one is made', async () => {
    const r = await upload(s, 'image', PNG, {});
    assert.equal(r.status, 200);
    assert.match(r.json.public_id, /^[a-z0-9]{20}$/);
  });

  test('upload: overwriting makes a new version; overwrite=false returns the existing one', async () => {
    const a = await upload(s, 'image', PNG, { public_id: 'ow/x' });
    const b = await upload(s, 'image', JPEG, { public_id: 'ow/x' });
    assert.equal(b.status, 200);
    assert.ok(b.json.version > a.json.version, 'version increases within the same second too');
    assert.equal(b.json.asset_id, a.json.asset_id);
    assert.notEqual(b.json.version_id, a.json.version_id);
    assert.equal(b.json.format, 'jpg');
    const c = await upload(s, 'image', PNG, { public_id: 'ow/x', overwrite: 'false' });
    assert.equal(c.status, 200);
    assert.equal(c.json.existing, true);
    assert.equal(c.json.version, b.json.version);
    assert.equal(c.json.etag, b.json.etag);
    assert.deepEqual((await get(s, `/${CLOUD}/image/upload/ow/x.jpg`)).body, JPEG);
    // Destroyed and uploaded again: still a new version (and so a new URL).
    await destroy(s, 'image', { public_id: 'ow/x' });
    const d = await upload(s, 'image', PNG, { public_id: 'ow/x' });
    assert.ok(d.json.version > b.json.version);
  });

  test('destroy: per resource type; another type\'s asset of the same public_id is "not found"', async () => {
    await upload(s, 'image', PNG, { public_id: 'same/id' });
    await upload(s, 'raw', TEXT, { public_id: 'same/id' });
    await upload(s, 'raw', TEXT, { public_id: 'only/raw' });
    assert.deepEqual(await destroy(s, 'image', { public_id: 'only/raw' }), { status: 200, json: { result: 'not found' } });
    assert.deepEqual(await destroy(s, 'raw', { public_id: 'same/id', invalidate: 'true' }), { status: 200, json: { result: 'ok' } });
    assert.deepEqual(await destroy(s, 'raw', { public_id: 'same/id' }), { status: 200, json: { result: 'not found' } });
    assert.equal((await get(s, `/${CLOUD}/image/upload/same/id.png`)).status, 200, 'the image is still there');
    assert.equal((await get(s, `/${CLOUD}/raw/upload/same/id`)).status, 404);
    assert.deepEqual(await destroy(s, 'image', { public_id: 'same/id', type: 'private' }), { status: 200, json: { result: 'not found' } });
    // Multipart destroys are signed the same way.
    const m = await postForm(s, `/v1_1/${CLOUD}/image/destroy`, signed({ public_id: 'same/id' }));
    assert.deepEqual([m.status, m.json], [200, { result: 'ok' }]);
    const bad = await postForm(s, `/v1_1/${CLOUD}/raw/destroy`, { ...signed({ public_id: 'only/raw' }), signature: '0'.repeat(40) });
    assert.equal(bad.status, 401);
    const log = await control(s, 'log');
    const entry = log.find((e) => e.op === 'destroy' && e.resource_type === 'raw' && e.public_id === 'same/id' && e.invalidate === true);
    assert.ok(entry, 'invalidate is in the request log');
    assert.equal(entry.status, 200);
  });

  test('Admin API: list by prefix in pages, sorted, per resource type', async () => {
    const ids = ['list/c', 'list/a', 'list/e', 'list/b', 'list/d'];
    for (const id of ids) await upload(s, 'image', PNG, { public_id: id });
    await upload(s, 'raw', TEXT, { public_id: 'list/raw.txt' });
    await upload(s, 'image', PNG, { public_id: 'listing-not' });
    const seen = [];
    let cursor = '';
    let pages = 0;
    do {
      const r = await admin(s, `/resources/image/upload?prefix=${encodeURIComponent('list/')}&max_results=2${cursor ? `&next_cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(r.status, 200);
      assert.ok(r.json.resources.length <= 2);
      for (const res of r.json.resources) {
        assert.equal(res.resource_type, 'image');
        assert.equal(res.type, 'upload');
        assert.equal(res.format, 'png');
        assert.equal(res.bytes, PNG.length);
        assert.equal(res.url, `${s.base}/${CLOUD}/image/upload/v${res.version}/${res.public_id}.png`);
        assert.ok(res.asset_id && res.created_at && res.secure_url);
        seen.push(res.public_id);
      }
      cursor = r.json.next_cursor;
      pages++;
    } while (cursor);
    assert.deepEqual(seen, [...ids].sort());
    assert.equal(pages, 3);
    const plain = await admin(s, '/resources/raw?prefix=list/');
    assert.deepEqual(plain.json.resources.map((r) => r.public_id), ['list/raw.txt']);
    assert.equal(plain.json.resources[0].format, undefined);
    assert.equal(plain.json.next_cursor, undefined);
    const unauth = await admin(s, '/resources/image/upload', basic('x', 'y'));
    assert.deepEqual(unauth, { status: 401, json: { error: { message: 'Invalid credentials' } } });
    const defaults = await admin(s, '/resources/image/upload');
    assert.equal(defaults.json.resources.length, 10);
    assert.ok(defaults.json.next_cursor);
  });

  test('Admin API: one asset by public_id with slashes; 404 otherwise', async () => {
    const up = await upload(s, 'image', PNG, { public_id: 'deep/er/asset name' });
    const r = await admin(s, `/resources/image/upload/deep/er/${encodeURIComponent('asset name')}`);
    assert.equal(r.status, 200);
    assert.equal(r.json.public_id, 'deep/er/asset name');
    assert.equal(r.json.version, up.json.version);
    assert.equal(r.json.url, up.json.url);
    const enc = await admin(s, `/resources/image/upload/${encodeURIComponent('deep/er/asset name')}`);
    assert.equal(enc.json.public_id, 'deep/er/asset name');
    assert.deepEqual(await admin(s, '/resources/raw/upload/deep/er/asset%20name'),
      { status: 404, json: { error: { message: 'Resource not found - deep/er/asset name' } } });
  });

  test('delivery: versions, transformations, extensions, raw, HEAD, 404', async () => {
    const up = await upload(s, 'image', PNG, { public_id: 'dl/pic' });
    const v = up.json.version;
    const cases = [
      [`/${CLOUD}/image/upload/v${v}/dl/pic.png`, ''],
      [`/${CLOUD}/image/upload/v1/dl/pic.png`, ''], // the version does not matter
      [`/${CLOUD}/image/upload/dl/pic.png`, ''],
      [`/${CLOUD}/image/upload/dl/pic`, ''],
      [`/${CLOUD}/image/upload/dl/pic.webp`, ''], // the stand-in does not convert
      [`/${CLOUD}/image/upload/c_fill,w_200,h_200/v${v}/dl/pic.jpg`, 'c_fill,w_200,h_200'],
      [`/${CLOUD}/image/upload/c_fill,w_200,h_200/f_auto/dl/pic`, 'c_fill,w_200,h_200/f_auto'],
      [`/${CLOUD}/image/upload/c_fill%2Cw_20/dl/pic`, 'c_fill,w_20'],
    ];
    for (const [p, t] of cases) {
      const d = await get(s, p);
      assert.equal(d.status, 200, p);
      assert.deepEqual(d.body, PNG, p);
      assert.equal(d.headers.get('x-standin-transformation'), t, p);
      assert.equal(d.headers.get('content-type'), 'image/png');
      assert.equal(d.headers.get('content-length'), String(PNG.length));
      assert.equal(d.headers.get('etag'), `"${up.json.etag}"`);
      assert.equal(d.headers.get('accept-ranges'), 'bytes');
      assert.equal(d.headers.get('cache-control'), 'public, max-age=2592000');
      assert.ok(d.headers.get('last-modified'));
      assert.equal(d.headers.get('content-disposition'), null);
    }
    const att = await get(s, `/${CLOUD}/image/upload/fl_attachment/v${v}/dl/pic.png`);
    assert.equal(att.headers.get('content-disposition'), 'attachment');
    assert.equal(att.headers.get('x-standin-transformation'), 'fl_attachment');
    const head = await get(s, `/${CLOUD}/image/upload/dl/pic.png`, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(PNG.length));
    assert.equal(head.body.length, 0);
    const cond = await get(s, `/${CLOUD}/image/upload/dl/pic.png`, { 'If-None-Match': `"${up.json.etag}"` });
    assert.equal(cond.status, 304);
    // A folder that looks like a transformation is still found as a folder.
    await upload(s, 'image', JPEG, { public_id: 'my_pics/cat' });
    const folder = await get(s, `/${CLOUD}/image/upload/my_pics/cat.jpg`);
    assert.deepEqual([folder.status, folder.headers.get('x-standin-transformation')], [200, '']);
    // raw public_ids include their extension.
    await upload(s, 'raw', TEXT, { public_id: 'dl/doc.txt' });
    assert.deepEqual((await get(s, `/${CLOUD}/raw/upload/v1/dl/doc.txt`)).body, TEXT);
    assert.equal((await get(s, `/${CLOUD}/raw/upload/dl/doc`)).status, 404);
    for (const p of [`/${CLOUD}/image/upload/dl/nope.png`, `/${CLOUD}/video/upload/dl/pic.png`, `/${CLOUD}/raw/upload/dl/pic.png`]) {
      const d = await get(s, p);
      assert.equal(d.status, 404, p);
      assert.equal(d.body.length, 0);
    }
  });

  test('delivery: ranges', async () => {
    const up = await upload(s, 'image', PNG, { public_id: 'rg/pic' });
    const p = `/${CLOUD}/image/upload/v${up.json.version}/rg/pic.png`;
    const n = PNG.length;
    const r1 = await get(s, p, { Range: 'bytes=10-19' });
    assert.deepEqual([r1.status, r1.headers.get('content-range'), r1.headers.get('content-length')], [206, `bytes 10-19/${n}`, '10']);
    assert.deepEqual(r1.body, PNG.subarray(10, 20));
    const r2 = await get(s, p, { Range: 'bytes=300-' });
    assert.deepEqual([r2.status, r2.headers.get('content-range')], [206, `bytes 300-${n - 1}/${n}`]);
    assert.deepEqual(r2.body, PNG.subarray(300));
    const r3 = await get(s, p, { Range: 'bytes=-5' });
    assert.deepEqual(r3.body, PNG.subarray(n - 5));
    const r4 = await get(s, p, { Range: `bytes=0-${n + 100}` });
    assert.deepEqual([r4.status, r4.body.length], [206, n]);
    const r5 = await get(s, p, { Range: `bytes=${n}-` });
    assert.deepEqual([r5.status, r5.headers.get('content-range')], [416, `bytes */${n}`]);
    const r6 = await get(s, p, { Range: 'bytes=0-1,5-6' }); // several ranges: the whole file
    assert.deepEqual([r6.status, r6.body.length], [200, n]);
  });

  test('chunked upload: out of order, retried, completed by the last chunk', async () => {
    const data = Buffer.concat([PNG, crypto.randomBytes(700)]);
    const id = `u-${crypto.randomUUID()}`;
    const size = 256;
    const chunks = [];
    for (let o = 0; o < data.length; o += size) chunks.push([o, Math.min(o + size, data.length) - 1]);
    const send = (i, total = data.length) => upload(s, 'image', data.subarray(chunks[i][0], chunks[i][1] + 1), { public_id: 'ch/big' },
      { headers: { 'X-Unique-Upload-Id': id, 'Content-Range': `bytes ${chunks[i][0]}-${chunks[i][1]}/${total}` } });
    const last = chunks.length - 1;
    for (const i of [2, 0, 1, 0]) { // out of order, chunk 0 twice
      const r = await send(i);
      assert.deepEqual([r.status, r.json], [200, { done: false }], `chunk ${i}`);
    }
    for (let i = 3; i < last; i++) assert.deepEqual((await send(i, -1)).json, { done: false }); // total not known yet
    const r = await send(last);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.public_id, 'ch/big');
    assert.equal(r.json.bytes, data.length);
    assert.equal(r.json.format, 'png');
    assert.equal(r.json.etag, crypto.createHash('md5').update(data).digest('hex'));
    assert.deepEqual((await get(s, `/${CLOUD}/image/upload/ch/big.png`)).body, data);
    const log = (await control(s, 'log')).filter((e) => e.upload_id === id);
    assert.equal(log.length, chunks.length + 1);
    assert.ok(log.every((e) => e.chunked === true && e.op === 'upload'));
  });

  test('chunked upload: a gap when the last chunk arrives is a 400; filling it completes', async () => {
    const data = Buffer.concat([JPEG, crypto.randomBytes(100)]);
    const id = `gap-${crypto.randomUUID()}`;
    const total = data.length;
    const send = (a, b) => upload(s, 'image', data.subarray(a, b + 1), { public_id: 'ch/gap' },
      { headers: { 'X-Unique-Upload-Id': id, 'Content-Range': `bytes ${a}-${b}/${total}` } });
    assert.deepEqual((await send(0, 99)).json, { done: false });
    const r = await send(200, total - 1);
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /missing bytes 100-/);
    assert.equal((await get(s, `/${CLOUD}/image/upload/ch/gap`)).status, 404);
    assert.deepEqual((await send(100, 199)).json, { done: false });
    const done = await send(200, total - 1);
    assert.equal(done.status, 200, JSON.stringify(done.json));
    assert.deepEqual((await get(s, `/${CLOUD}/image/upload/ch/gap`)).body, data);
    // A chunk whose length does not match its Content-Range.
    const bad = await upload(s, 'image', data.subarray(0, 10), { public_id: 'ch/bad' },
      { headers: { 'X-Unique-Upload-Id': 'bad', 'Content-Range': `bytes 0-19/${total}` } });
    assert.equal(bad.status, 400);
  });

  test('fail on demand: status, reset, hang, reset_after; counts accumulate and clear', async () => {
    await control(s, 'fail', { op: 'upload', count: 1, status: 503 });
    await control(s, 'fail', { op: 'upload', count: 1, status: 420 });
    const a = await upload(s, 'image', PNG, { public_id: 'fail/a' });
    assert.deepEqual([a.status, a.json], [503, { error: { message: 'stand-in failure injected' } }]);
    const b = await upload(s, 'image', PNG, { public_id: 'fail/a' });
    assert.equal(b.status, 420);
    assert.equal((await upload(s, 'image', PNG, { public_id: 'fail/a' })).status, 200);

    await control(s, 'fail', { op: 'destroy', count: 5, status: 500 });
    assert.equal((await destroy(s, 'image', { public_id: 'fail/a' })).status, 500);
    await control(s, 'fail', { op: 'destroy', count: 0 });
    assert.deepEqual((await destroy(s, 'image', { public_id: 'fail/a' })).json, { result: 'ok' });

    await control(s, 'fail', { op: 'upload', count: 1, mode: 'reset' });
    await assert.rejects(upload(s, 'image', PNG, { public_id: 'fail/reset' }));
    assert.equal((await admin(s, '/resources/image/upload/fail/reset')).status, 404, 'a reset request stored nothing');

    await control(s, 'fail', { op: 'upload', count: 1, mode: 'reset_after' });
    await assert.rejects(upload(s, 'image', PNG, { public_id: 'fail/after' }));
    assert.equal((await admin(s, '/resources/image/upload/fail/after')).status, 200, 'reset_after stored it');

    await control(s, 'fail', { op: 'get', count: 1, mode: 'hang' });
    await assert.rejects(fetch(`${s.base}/v1_1/${CLOUD}/resources/image/upload/fail/after`,
      { headers: basic(), signal: AbortSignal.timeout(300) }), { name: 'TimeoutError' });
    assert.equal((await admin(s, '/resources/image/upload/fail/after')).status, 200);

    await control(s, 'fail', { op: 'delivery', count: 1, status: 502 });
    assert.equal((await get(s, `/${CLOUD}/image/upload/fail/after`)).status, 502);
    await control(s, 'fail', { op: 'any', count: 2, status: 503 });
    assert.equal((await admin(s, '/usage')).status, 503);
    assert.equal((await admin(s, '/resources/image')).status, 503);
    assert.equal((await admin(s, '/usage')).status, 200);
    await control(s, 'fail', { op: 'list', count: 1, status: 500 });
    const pending = await control(s, 'fail', { op: 'list', count: 0 });
    assert.equal(pending.pending.list, undefined);
    assert.equal((await admin(s, '/resources/image')).status, 200);

    const log = await control(s, 'log');
    assert.ok(log.some((e) => e.injected === 'hang' && e.op === 'get'));
    assert.ok(log.some((e) => e.injected === 'reset' && e.op === 'upload'));
    assert.ok(log.some((e) => e.status === 420 && e.injected === 'status' && e.error === 'stand-in failure injected'));
    assert.ok(log.some((e) => e.injected === 'reset_after' && e.status === 200 && e.public_id === 'fail/after'));
  });

  test('log, log/clear and assets', async () => {
    await control(s, 'log/clear', {});
    const up = await upload(s, 'raw', TEXT, { public_id: 'log/x' });
    await get(s, `/${CLOUD}/raw/upload/log/x`);
    const log = await control(s, 'log');
    assert.equal(log.length, 2);
    assert.deepEqual(
      log.map(({ method, path: p, op, status, public_id: id, resource_type: rt, chunked }) => ({ method, p, op, status, id, rt, chunked })),
      [
        { method: 'POST', p: `/v1_1/${CLOUD}/raw/upload`, op: 'upload', status: 200, id: 'log/x', rt: 'raw', chunked: false },
        { method: 'GET', p: `/${CLOUD}/raw/upload/log/x`, op: 'delivery', status: 200, id: 'log/x', rt: 'raw', chunked: false },
      ]);
    assert.match(log[0].timestamp, /^\d+$/);
    assert.ok(log[0].time);
    const assets = await control(s, 'assets');
    assert.deepEqual(assets.find((a) => a.public_id === 'log/x' && a.resource_type === 'raw'),
      { resource_type: 'raw', public_id: 'log/x', bytes: TEXT.length, version: up.json.version, etag: up.json.etag });
    assert.ok(s.lines.some((l) => JSON.parse(l).path === `/${CLOUD}/raw/upload/log/x`), 'one JSON line per request on stdout');
  });

  test('anything else is a 404 naming the stand-in', async () => {
    for (const [method, p] of [['GET', '/'], ['GET', `/v1_1/${CLOUD}/image/upload`], ['POST', `/v1_1/${CLOUD}/image/rename`],
      ['DELETE', `/v1_1/${CLOUD}/resources/image/upload`], ['GET', '/__standin/nothing']]) {
      const res = await fetch(`${s.base}${p}`, { method });
      assert.equal(res.status, 404, `${method} ${p}`);
      assert.match((await res.json()).error.message, /^stand-in: no such endpoint/);
    }
    const wrongCloud = await fetch(`${s.base}/v1_1/other/resources/image`, { headers: basic() });
    assert.equal(wrongCloud.status, 401);
  });
});

describe('Cloudinary stand-in on disk', () => {
  test('a restart after SIGKILL keeps every acknowledged asset and pending chunks', async () => {
    const dir = await tempDir();
    let s = await startStandin(dir);
    try {
      const img = await upload(s, 'image', PNG, { public_id: 'keep/img' });
      const raw = await upload(s, 'raw', TEXT, { public_id: 'keep/img' });
      const gone = await upload(s, 'image', JPEG, { public_id: 'keep/gone' });
      assert.equal(gone.status, 200);
      await destroy(s, 'image', { public_id: 'keep/gone' });
      const data = Buffer.concat([JPEG, crypto.randomBytes(50)]);
      const chunk = (a, b) => upload(s, 'image', data.subarray(a, b + 1), { public_id: 'keep/chunked' },
        { headers: { 'X-Unique-Upload-Id': 'keep-1', 'Content-Range': `bytes ${a}-${b}/${data.length}` } });
      assert.deepEqual((await chunk(0, 99)).json, { done: false });

      await s.stop('SIGKILL');
      s = await startStandin(dir);
      assert.equal(s.banner.assets, 2);
      const r = await admin(s, '/resources/image/upload/keep/img');
      assert.equal(r.json.version, img.json.version);
      assert.equal(r.json.asset_id, img.json.asset_id);
      assert.deepEqual((await get(s, new URL(img.json.url).pathname)).body, PNG);
      assert.deepEqual((await get(s, `/${CLOUD}/raw/upload/keep/img`)).body, TEXT);
      assert.equal((await admin(s, '/resources/raw/upload/keep/img')).json.version, raw.json.version);
      assert.equal((await admin(s, '/resources/image/upload/keep/gone')).status, 404);
      const done = await chunk(100, data.length - 1);
      assert.equal(done.status, 200, JSON.stringify(done.json));
      assert.deepEqual((await get(s, `/${CLOUD}/image/upload/keep/chunked`)).body, data);
      const again = await upload(s, 'image', JPEG, { public_id: 'keep/img' });
      assert.ok(again.json.version > img.json.version);
      // Nothing but the live assets' files is left in the store.
      const files = (await fsp.readdir(path.join(dir, 'assets', 'image'))).sort();
      assert.equal(files.length, 4); // keep/img and keep/chunked: .json + .bin each
      assert.deepEqual(await fsp.readdir(path.join(dir, 'chunks')), []);
    } finally {
      await s.stop();
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  test('bodies over --max-body are refused with 413', async () => {
    const dir = await tempDir();
    const s = await startStandin(dir, ['--max-body', '4096']);
    try {
      const r = await upload(s, 'raw', crypto.randomBytes(8000), { public_id: 'big' }).catch((e) => ({ error: e }));
      // The client may see the 413 or, having been cut off while sending, an error.
      if (!r.error) {
        assert.equal(r.status, 413);
        assert.match(r.json.error.message, /chunked upload/);
      }
      assert.equal((await upload(s, 'raw', crypto.randomBytes(1000), { public_id: 'small' })).status, 200);
      assert.deepEqual((await control(s, 'assets')).map((a) => a.public_id), ['small']);
    } finally {
      await s.stop();
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  test('SIGTERM ends it promptly, even with a hung request open', async () => {
    const dir = await tempDir();
    const s = await startStandin(dir);
    try {
      await control(s, 'fail', { op: 'usage', count: 1, mode: 'hang' });
      const hung = fetch(`${s.base}/v1_1/${CLOUD}/usage`, { headers: basic() }).catch((e) => e);
      for (let i = 0; i < 100 && !s.lines.some((l) => l.includes('"hang"')); i++) await new Promise((r) => setTimeout(r, 20));
      const t0 = Date.now();
      const { code } = await s.stop('SIGTERM');
      assert.equal(code, 0);
      assert.ok(Date.now() - t0 < 2000, `exited in ${Date.now() - t0} ms`);
      assert.ok((await hung) instanceof Error, 'the hung client sees the connection end');
    } finally {
      await s.stop();
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
