// One media: read, edit (JSON), replace (multipart PATCH and raw PUT), delete;
// API conventions: slashes, Cache-Control, X-Request-Id, JSON errors, 405, 404, 401.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import fs from 'node:fs/promises';

import { assertError, assertFieldError, assertMedia, assertRedirect, blobsOf, client, eventually } from './lib/api.mjs';
import { HTML, makePng, PNG_1x1, sha256 } from './lib/files.mjs';
import { multipart, sleep } from './lib/http.mjs';
import { SLOW, useServer, withServer } from './lib/server.mjs';
import { readBlob, storeKeys } from './lib/store.mjs';

const S = useServer();
const T = { timeout: 30_000 * SLOW };
const api = () => client(S.srv);

/** sha256 of every stored blob (lib/store.mjs: files or a bucket). */
async function blobHashes() {
  const out = new Set();
  for (const k of await storeKeys(S.srv.dataDir)) {
    const bytes = await readBlob(S.srv.dataDir, k);
    if (bytes) out.add(sha256(bytes));
  }
  return out;
}

test('GET /api/media/{id}/ returns the media, with or without the trailing slash', T, async () => {
  const c = api();
  const m = await c.create(PNG_1x1, { filename: 'get.png', fields: { title: 'get me' } });
  for (const p of [`/api/media/${m.id}/`, `/api/media/${m.id}`]) {
    const res = await c.get(p);
    assert.equal(res.status, 200, p);
    assertMedia(res.json, c.base);
    assert.deepEqual(res.json, m);
  }
});

for (const id of ['999999', 'abc', '99999999999999999999999', '-1', '1.0']) {
  test(`GET /api/media/${id}/ → 404 not_found JSON`, T, async () => {
    assertError(await api().get(`/api/media/${id}/`), 404, 'not_found');
  });
}

test('PATCH JSON edits metadata: version, url and file unchanged, updated_at moves, tags replaced', T, async () => {
  const c = api();
  const m = await c.create(PNG_1x1, { filename: 'edit.png', fields: { title: 'before', tags: 'old1, old2' } });
  await sleep(1100);
  const edit = { title: 'after', alt_text: 'new alt', caption: 'new caption', folder: 'moved/here', tags: ['new'] };
  const res = await c.json('PATCH', `/api/media/${m.id}/`, edit);
  assert.equal(res.status, 200, res.text);
  const e = res.json;
  assertMedia(e, c.base, { ...edit, id: m.id, version: 1, url: m.url, sha256: m.sha256, size: m.size, filename: m.filename, created_at: m.created_at });
  assert.ok(Date.parse(e.updated_at) > Date.parse(m.updated_at), `updated_at moved: ${m.updated_at} → ${e.updated_at}`);
  assert.deepEqual(await c.getMedia(m.id), e, 'the edit is stored');

  const partial = await c.json('PATCH', `/api/media/${m.id}`, { caption: 'only this' });
  assert.equal(partial.status, 200, partial.text);
  assert.equal(partial.json.caption, 'only this');
  assert.equal(partial.json.title, 'after', 'fields not sent are kept');
  assert.deepEqual(partial.json.tags, ['new']);
});

test('PATCH with malformed JSON → 400 bad_request', T, async () => {
  const m = await api().create(PNG_1x1);
  assertError(await api().json('PATCH', `/api/media/${m.id}/`, '{"title": '), 400, 'bad_request');
  assertError(await api().json('PATCH', `/api/media/${m.id}/`, '["not", "an", "object"]'), 400, ['bad_request', 'validation_failed']);
});

const WRONG_TYPES = [
  ['title', { title: 5 }],
  ['title', { title: 't'.repeat(256) }],
  ['tags', { tags: 5 }],
  ['tags', { tags: [1, 2] }],
  ['alt_text', { alt_text: ['x'] }],
  ['folder', { folder: { a: 1 } }],
];
for (const [field, body] of WRONG_TYPES) {
  test(`PATCH ${JSON.stringify(body).slice(0, 40)} → 400 validation_failed naming ${field}, nothing changed`, T, async () => {
    const c = api();
    const m = await c.create(PNG_1x1, { fields: { title: 'unchanged' } });
    assertFieldError(await c.json('PATCH', `/api/media/${m.id}/`, body), field);
    assert.deepEqual(await c.getMedia(m.id), m);
  });
}

test('PATCH multipart with a file replaces it: version 2, new URL, old URL → 302, old bytes removed', T, async () => {
  const c = api();
  const v1 = makePng(5, 5);
  const v2 = makePng(6, 6);
  const m = await c.create(v1, { filename: 'replace.png', fields: { title: 'v1' } });
  const { body, contentType } = multipart([{ name: 'title', value: 'v2' }, { name: 'file', filename: 'replace.png', contentType: 'image/png', data: v2 }]);
  const res = await c.call('PATCH', `/api/media/${m.id}/`, { headers: { 'content-type': contentType }, body });
  assert.equal(res.status, 200, res.text);
  const r = res.json;
  assertMedia(r, c.base, { id: m.id, version: 2, title: 'v2', sha256: sha256(v2), size: v2.length, created_at: m.created_at });
  assert.equal(r.url, `${c.base}/media/${m.id}/v2/replace.png`);

  const now = await c.get(r.url);
  assert.equal(now.status, 200);
  assert.ok(now.body.equals(v2), 'the new URL serves the new bytes');
  assertRedirect(await c.get(m.url), c.base, r.url);

  const gone = await eventually(async () => !(await blobHashes()).has(sha256(v1)));
  assert.ok(gone, 'the old version’s bytes are removed from storage');
});

test('PUT /api/media/{id}/file with a raw body and Content-Disposition replaces the file', T, async () => {
  const c = api();
  const m = await c.create(PNG_1x1, { filename: 'old.png' });
  const data = makePng(7, 3);
  const res = await c.call('PUT', `/api/media/${m.id}/file`, {
    headers: { 'content-type': 'image/png', 'content-disposition': 'attachment; filename="new.png"' },
    body: data,
  });
  assert.equal(res.status, 200, res.text);
  assertMedia(res.json, c.base, { id: m.id, version: 2, filename: 'new.png', mime_type: 'image/png', size: data.length, sha256: sha256(data) });
  assert.equal(res.json.url, `${c.base}/media/${m.id}/v2/new.png`);
  const file = await c.get(res.json.url);
  assert.ok(file.body.equals(data));

  const again = await c.call('PUT', `/api/media/${m.id}/file/`, { headers: { 'content-type': 'image/png' }, body: PNG_1x1 });
  assert.equal(again.status, 200, 'trailing slash accepted on /file/');
  assert.equal(again.json.version, 3);
});

test('PUT /api/media/{id}/file with HTML bytes → 415, the media keeps its file', T, async () => {
  const c = api();
  const m = await c.create(PNG_1x1);
  assertError(await c.call('PUT', `/api/media/${m.id}/file`, { headers: { 'content-type': 'image/png' }, body: HTML }), 415, 'unsupported_media_type');
  assert.deepEqual(await c.getMedia(m.id), m);
});

test('PUT /api/media/{id}/file on a missing id → 404', T, async () => {
  assertError(await api().call('PUT', '/api/media/999999/file', { headers: { 'content-type': 'image/png' }, body: PNG_1x1 }), 404, 'not_found');
});

test('DELETE → 200 {id, deleted: true, storage.status "deleted"}; then API 404, file 404 no-store, blobs gone', T, async () => {
  const c = api();
  const data = makePng(9, 9);
  const m = await c.create(data, { filename: 'bye.png' });
  assert.ok((await blobsOf(S.srv.dataDir, m.id)).length > 0, 'the blob is stored under blobs/m/<id>/ (precondition)');

  const res = await c.del(`/api/media/${m.id}/`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.id, m.id);
  assert.equal(res.json.deleted, true);
  assert.equal(res.json.storage?.status, 'deleted', `local storage confirms at once: ${res.text}`);
  assert.equal(typeof res.json.storage.attempts, 'number');

  assertError(await c.get(`/api/media/${m.id}/`), 404, 'not_found');
  const file = await c.get(m.url);
  assertError(file, 404, 'not_found');
  assert.match(file.headers.get('cache-control') ?? '', /no-store/);
  assert.deepEqual(await blobsOf(S.srv.dataDir, m.id), [], 'no blob of the media is left');
  assert.ok(!(await blobHashes()).has(sha256(data)), 'its bytes are nowhere in storage');
  assertError(await c.del(`/api/media/${m.id}/`), 404, 'not_found');
});

test('the trailing slash is optional on list, get, patch and delete', T, async () => {
  const c = api();
  const a = await c.get('/api/media');
  const b = await c.get('/api/media/');
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.equal(a.json.count, b.json.count);
  const { body, contentType } = multipart([{ name: 'file', filename: 'noslash.png', contentType: 'image/png', data: PNG_1x1 }]);
  const up = await c.call('POST', '/api/media', { headers: { 'content-type': contentType }, body });
  assert.equal(up.status, 201, up.text);
  const p = await c.json('PATCH', `/api/media/${up.json.id}`, { title: 'no slash' });
  assert.equal(p.status, 200, p.text);
  const d = await c.del(`/api/media/${up.json.id}`);
  assert.equal(d.status, 200, d.text);
});

test('every /api/ response, success or error, has Cache-Control: no-store and a fresh X-Request-Id', T, async () => {
  const c = api();
  const m = await c.create(PNG_1x1);
  const responses = [
    await c.upload(PNG_1x1),
    await c.get('/api/media/'),
    await c.get(`/api/media/${m.id}/`),
    await c.json('PATCH', `/api/media/${m.id}/`, { title: 'x' }),
    await c.get('/api/media/999999/'),
    await c.get('/api/media/?page=abc'),
    await c.call('PUT', '/api/media/'),
    await c.get('/api/unknown'),
  ];
  const ids = new Set();
  for (const res of responses) {
    assert.match(res.headers.get('cache-control') ?? '', /no-store/, `Cache-Control on a ${res.status}`);
    const rid = res.headers.get('x-request-id');
    assert.ok(rid, `X-Request-Id on a ${res.status}`);
    ids.add(rid);
  }
  assert.equal(ids.size, responses.length, 'request ids are unique');
});

test('a client X-Request-Id is echoed in the header and in error bodies', T, async () => {
  const c = api();
  const ok = await c.get('/api/media/', { headers: { 'x-request-id': 'e2e-req-ok-1234' } });
  assert.equal(ok.headers.get('x-request-id'), 'e2e-req-ok-1234');
  const err = await c.get('/api/media/999999/', { headers: { 'x-request-id': 'e2e-req-err-5678' } });
  assert.equal(err.headers.get('x-request-id'), 'e2e-req-err-5678');
  assert.equal(assertError(err, 404, 'not_found').request_id, 'e2e-req-err-5678');
});

for (const [method, p] of [['PUT', '/api/media/'], ['DELETE', '/api/media/'], ['POST', '/api/media/1/'], ['GET', '/api/media/1/file']]) {
  test(`${method} ${p} → 405 JSON with Allow`, T, async () => {
    const c = api();
    await c.create(PNG_1x1); // so id 1 exists
    const res = await c.call(method, p);
    assertError(res, 405);
    assert.ok(res.headers.get('allow'), 'a 405 lists the allowed methods');
    assert.ok(!res.headers.get('allow').split(/\s*,\s*/).includes(method), `Allow excludes ${method}`);
  });
}

for (const p of ['/api/nope', '/api/media/1/extra/deep', '/api/', '/api/medias/']) {
  test(`GET ${p} → 404 not_found JSON`, T, async () => {
    assertError(await api().get(p), 404, 'not_found');
  });
}

test('without MEDIALIB_INSECURE_OPEN_WRITES every write → 401 with WWW-Authenticate: Bearer; reads stay public', { timeout: 60_000 * SLOW }, async () => {
  await withServer({ openWrites: false }, async (srv) => {
    const c = client(srv);
    const { body, contentType } = multipart([{ name: 'file', filename: 'x.png', contentType: 'image/png', data: PNG_1x1 }]);
    const writes = [
      ['POST', '/api/media/', { headers: { 'content-type': contentType }, body }],
      ['POST', '/api/media/', { headers: { 'content-type': contentType, authorization: 'Bearer not.a.jwt' }, body }],
      ['PATCH', '/api/media/1/', { headers: { 'content-type': 'application/json' }, body: '{"title":"x"}' }],
      ['PUT', '/api/media/1/file', { headers: { 'content-type': 'image/png' }, body: PNG_1x1 }],
      ['DELETE', '/api/media/1/', {}],
    ];
    for (const [method, p, opts] of writes) {
      const res = await c.call(method, p, opts);
      assertError(res, 401, 'unauthorized');
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/, `${method} ${p} asks for a Bearer token`);
    }
    const list = await c.get('/api/media/');
    assert.equal(list.status, 200, 'reads are public');
    assert.equal(list.json.count, 0, 'nothing was stored');
  });
});
