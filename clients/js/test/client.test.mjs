// The client against a real `medialib serve`: every call, list filters and
// the iterators, upload/replace progress, abort, errors, the seed-name wrappers.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';

import {
  MediaApiError,
  configure,
  createClient,
  deleteMedia,
  updateMedia,
  uploadMedia,
} from '../dist/index.js';
import { HTML, USERS, makePdf, makePng, makePngOfSize, recordingFetch, rejectsWith, useServer } from './helpers.mjs';

const S = useServer();
const T = { timeout: 60_000 };

/** A client logged in as the editor (through POST /api/token/). */
async function editor(extra = {}) {
  const c = createClient({ baseUrl: S.srv.baseUrl, ...extra });
  await c.login('ed', USERS.ed[1]);
  return c;
}

/** Checks a progress sequence: at least one event, loaded never decreasing, total fixed, last == total. */
function assertProgress(events, minTotal) {
  assert.ok(events.length >= 1, 'progress was reported');
  const total = events[0].total;
  assert.ok(total >= minTotal, `total ${total} covers the file (${minTotal} bytes)`);
  for (let i = 0; i < events.length; i++) {
    assert.equal(events[i].total, total, 'total never changes');
    if (i) assert.ok(events[i].loaded >= events[i - 1].loaded, `monotonic: ${events[i - 1].loaded} then ${events[i].loaded}`);
  }
  assert.equal(events.at(-1).loaded, total, 'the last event is the whole body');
}

test('upload with metadata and progress, then get: the media the API describes', T, async () => {
  const c = await editor();
  const png = makePngOfSize(300_000);
  const events = [];
  const m = await c.upload(png, {
    title: 'Sunset',
    alt_text: 'Orange sky',
    caption: 'over the ghats',
    folder: 'tours/varanasi',
    tags: ['sunset', 'river'],
  }, { filename: 'sunset.png', onProgress: (p) => events.push({ ...p }) });
  assert.equal(m.title, 'Sunset');
  assert.equal(m.alt_text, 'Orange sky');
  assert.equal(m.caption, 'over the ghats');
  assert.equal(m.folder, 'tours/varanasi');
  assert.deepEqual(m.tags, ['sunset', 'river']);
  assert.equal(m.filename, 'sunset.png');
  assert.equal(m.mime_type, 'image/png');
  assert.equal(m.size, png.length);
  assert.equal(m.version, 1);
  assert.equal(m.url, `${S.srv.baseUrl}/media/${m.id}/v1/sunset.png`);
  assertProgress(events, png.length);
  assert.ok(events.length > 1, `a 300 kB body gives several progress events (got ${events.length})`);

  assert.deepEqual(await c.get(m.id), m);
  // a File-like Blob with its own name, and tags as one comma-separated string
  const file = new File([makePng(2, 2)], 'named.png', { type: 'image/png' });
  const m2 = await c.upload(file, { tags: 'a,b' });
  assert.equal(m2.filename, 'named.png');
  assert.deepEqual(m2.tags, ['a', 'b']);
  // bytes without a name cannot be uploaded: every URL ends with the filename
  await assert.rejects(c.upload(makePng(1, 1)), TypeError);
  await assert.rejects(c.get(0), TypeError, 'ids are positive integers');
});

test('list: every filter, and listAll/listPages over several pages', T, async () => {
  const c = await editor();
  const folder = `list-${Date.now()}`;
  const made = [];
  for (const [i, title] of ['delta', 'alpha', 'echo', 'charlie', 'bravo'].entries()) {
    made.push(await c.upload(makePng(i + 1, 1), { title, folder, tags: i % 2 ? ['odd'] : ['even'] }, { filename: `${title}.png` }));
  }
  const pdf = await c.upload(makePdf(), { title: 'paper', folder }, { filename: 'paper.pdf' });
  assert.equal(pdf.mime_type, 'application/pdf');

  const all = await c.list({ folder });
  assert.equal(all.count, 6);
  assert.equal(all.next, null);
  assert.deepEqual(all.results.map((m) => m.id), [...made, pdf].map((m) => m.id).reverse(), 'default ordering: newest first');

  const byTitle = await c.list({ folder, ordering: 'title', mime: 'image/*' });
  assert.deepEqual(byTitle.results.map((m) => m.title), ['alpha', 'bravo', 'charlie', 'delta', 'echo']);
  const byTitleDesc = await c.list({ folder, ordering: '-title' });
  assert.deepEqual(byTitleDesc.results.map((m) => m.title), ['paper', 'echo', 'delta', 'charlie', 'bravo', 'alpha']);
  const pdfs = await c.list({ folder, mime: 'application/pdf' });
  assert.deepEqual(pdfs.results.map((m) => m.id), [pdf.id]);
  const odd = await c.list({ folder, tag: 'odd', ordering: 'title' });
  assert.deepEqual(odd.results.map((m) => m.title), ['alpha', 'charlie']);
  const q = await c.list({ q: 'charlie', folder });
  assert.deepEqual(q.results.map((m) => m.title), ['charlie']);

  const p2 = await c.list({ folder, ordering: 'title', page: 2, page_size: 2 });
  assert.equal(p2.count, 6);
  assert.deepEqual(p2.results.map((m) => m.title), ['charlie', 'delta']);
  assert.ok(p2.next && p2.previous, 'a middle page links both ways');

  const pages = [];
  for await (const p of c.listPages({ folder, ordering: 'title', page_size: 2 })) pages.push(p.results.map((m) => m.title));
  assert.deepEqual(pages, [['alpha', 'bravo'], ['charlie', 'delta'], ['echo', 'paper']]);
  const titles = [];
  for await (const m of c.listAll({ folder, ordering: 'title', page_size: 4 })) titles.push(m.title);
  assert.deepEqual(titles, ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'paper']);
  const fromPage2 = [];
  for await (const m of c.listAll({ folder, ordering: 'title', page_size: 4, page: 2 })) fromPage2.push(m.title);
  assert.deepEqual(fromPage2, ['echo', 'paper']);
  const none = [];
  for await (const m of c.listAll({ folder: `${folder}-empty` })) none.push(m);
  assert.deepEqual(none, []);
  // reads are public: a client without a token lists too
  assert.equal((await createClient({ baseUrl: S.srv.baseUrl }).list({ folder })).count, 6);
});

test('update edits metadata and keeps the version; replace bumps it and changes the URL', T, async () => {
  const c = await editor();
  const m = await c.upload(makePng(3, 3), { title: 'before' }, { filename: 'photo.png' });
  const u = await c.update(m.id, { title: 'after', alt_text: 'new alt', tags: ['x', 'y'] });
  assert.equal(u.title, 'after');
  assert.equal(u.alt_text, 'new alt');
  assert.deepEqual(u.tags, ['x', 'y']);
  assert.equal(u.version, 1);
  assert.equal(u.url, m.url);

  const png = makePngOfSize(200_000);
  const events = [];
  const r = await c.replace(m.id, png, { filename: 'photo-2.png', onProgress: (p) => events.push({ ...p }) });
  assert.equal(r.id, m.id);
  assert.equal(r.version, 2);
  assert.equal(r.size, png.length);
  assert.equal(r.filename, 'photo-2.png');
  assert.equal(r.title, 'after', 'metadata survives a replace');
  assert.notEqual(r.url, m.url);
  assert.equal(r.url, `${S.srv.baseUrl}/media/${m.id}/v2/photo-2.png`);
  assertProgress(events, png.length);
  assert.equal(events.at(-1).total, png.length, 'a raw PUT body is the file itself');

  const res = await fetch(c.url(r));
  assert.equal(res.status, 200);
  assert.equal(Buffer.compare(Buffer.from(await res.arrayBuffer()), png), 0, 'url() serves the new bytes');
  const old = await fetch(c.url(m), { redirect: 'manual' });
  assert.equal(old.status, 302, 'the old version redirects');
  assert.equal(new URL(old.headers.get('location'), S.srv.baseUrl).pathname, new URL(r.url).pathname);
  // A File keeps its own name on replace
  const r3 = await c.replace(m.id, new File([makePng(4, 4)], 'third.png'));
  assert.equal(r3.version, 3);
  assert.equal(r3.filename, 'third.png');
});

test('remove answers the storage status; the media is gone', T, async () => {
  const c = await editor();
  const m = await c.upload(makePng(1, 1), {}, { filename: 'gone.png' });
  const st = await c.remove(m.id);
  assert.equal(st.status, 'deleted');
  assert.equal(typeof st.attempts, 'number');
  await rejectsWith(c.get(m.id), MediaApiError, 404, 'not_found');
  await rejectsWith(c.remove(m.id), MediaApiError, 404, 'not_found');
  const file = await fetch(m.url);
  assert.equal(file.status, 404);
});

test('errors: each code the API can send the client, as MediaApiError with request id', T, async () => {
  const c = await editor();
  const nf = await rejectsWith(c.get(999999), MediaApiError, 404, 'not_found');
  assert.match(nf.requestId, /^[0-9a-f]{16,}$/);
  assert.equal(nf.fields, null);
  assert.ok(nf.message.length > 0);

  const v = await rejectsWith(c.list({ page_size: 1000, ordering: 'sideways' }), MediaApiError, 400, 'validation_failed');
  assert.equal(typeof v.fields.page_size, 'string');
  assert.equal(typeof v.fields.ordering, 'string');
  assert.ok(v.requestId);

  const anon = createClient({ baseUrl: S.srv.baseUrl });
  const un = await rejectsWith(anon.upload(makePng(1, 1), {}, { filename: 'a.png' }), MediaApiError, 401, 'unauthorized');
  assert.ok(un.requestId);
  await rejectsWith(createClient({ baseUrl: S.srv.baseUrl, token: 'not.a.token' }).remove(1), MediaApiError, 401, 'unauthorized');

  const viewer = createClient({ baseUrl: S.srv.baseUrl, getToken: async () => S.token('vi') });
  assert.equal((await viewer.me()).role, 'viewer');
  await rejectsWith(viewer.upload(makePng(1, 1), {}, { filename: 'a.png' }), MediaApiError, 403, 'forbidden');

  // text/plain is on the server's allow-list (documents); an HTML page is not.
  const html = HTML;
  await rejectsWith(c.upload(html, {}, { filename: "notes.png" }), MediaApiError, 415, 'unsupported_media_type');
  const m = await c.upload(makePng(1, 1), {}, { filename: 'keep.png' });
  await rejectsWith(c.replace(m.id, html, { filename: "notes.txt" }), MediaApiError, 415, 'unsupported_media_type');
  assert.equal((await c.get(m.id)).version, 1, 'a refused replace changes nothing');

  const badLogin = await rejectsWith(anon.login('ed', 'wrong password'), MediaApiError, 401, 'unauthorized');
  assert.ok(badLogin.message);
  assert.equal(anon.session, null);
});

test('errors without an API answer: network_error, and a non-JSON answer from a proxy', T, async () => {
  // A port nobody listens on: bind one, note it, close it.
  const dead = http.createServer();
  await new Promise((r) => dead.listen(0, '127.0.0.1', r));
  const port = dead.address().port;
  await new Promise((r) => dead.close(r));
  const ne = await rejectsWith(createClient({ baseUrl: `http://127.0.0.1:${port}` }).get(1), MediaApiError, 0, 'network_error');
  assert.match(ne.message, /ECONNREFUSED/);

  // A proxy in front of the server that answers its own HTML error pages (a real
  // HTTP server, standing where nginx or a CDN would).
  const proxy = http.createServer((req, res) => {
    req.resume();
    if (req.url.startsWith('/api/media/1/')) {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>Bad Gateway</body></html>');
    } else {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
    }
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  try {
    const c = createClient({ baseUrl: `http://127.0.0.1:${proxy.address().port}` });
    const bg = await rejectsWith(c.get(1), MediaApiError, 502, 'internal');
    assert.match(bg.message, /Bad Gateway/);
    await rejectsWith(c.list(), MediaApiError, 200, 'invalid_response');
  } finally {
    await new Promise((r) => proxy.close(r));
  }
});

test('abort mid-upload: MediaApiError code aborted, nothing stored', T, async () => {
  const c = await editor();
  const folder = `abort-${Date.now()}`;
  const big = makePngOfSize(4_000_000);
  const ac = new AbortController();
  const events = [];
  const err = await rejectsWith(
    c.upload(big, { folder }, {
      filename: 'big.png',
      signal: ac.signal,
      onProgress: (p) => {
        events.push(p.loaded);
        ac.abort();
      },
    }),
    MediaApiError, 0, 'aborted',
  );
  assert.equal(err.name, 'AbortError', 'like fetch\'s own abort');
  assert.ok(events.length >= 1 && events[0] < big.length, `aborted after the first progress event (${events})`);
  assert.equal((await c.list({ folder })).count, 0, 'no media from the aborted upload');
  // an already aborted signal never sends
  const pre = new AbortController();
  pre.abort();
  await rejectsWith(c.get(1, { signal: pre.signal }), MediaApiError, 0, 'aborted');
  await rejectsWith(c.replace(1, big, { filename: 'x.png', signal: pre.signal }), MediaApiError, 0, 'aborted');
  // a timeout is told apart
  await rejectsWith(c.upload(big, { folder }, { filename: 'slow.png', signal: AbortSignal.timeout(1) }), MediaApiError, 0, 'timeout');
  assert.equal((await c.list({ folder })).count, 0);
});

test('every call goes out with cache: no-store (checked on the fetch given to the client)', T, async () => {
  const f = recordingFetch();
  const c = createClient({ baseUrl: S.srv.baseUrl, fetch: f });
  await c.login('ed', USERS.ed[1]);
  await c.me();
  const m = await c.upload(makePng(2, 2), { title: 'cache' }, { filename: 'cache.png', onProgress: () => {} });
  await c.upload(makePng(2, 2), {}, { filename: 'cache2.png' });
  await c.get(m.id);
  await c.list({ q: 'cache' });
  for await (const x of c.listAll({ page_size: 1, q: 'cache' })) assert.ok(x.id);
  await c.update(m.id, { title: 'cache 2' });
  await c.replace(m.id, makePng(3, 3), { filename: 'cache.png' });
  await c.remove(m.id);
  await rejectsWith(c.get(m.id), MediaApiError, 404, 'not_found');
  await c.logout();
  const kinds = new Set(f.calls.map((x) => `${x.method} ${new URL(x.url).pathname.replace(/\d+/g, 'N')}`));
  assert.deepEqual([...kinds].sort(), [
    'DELETE /api/media/N/', 'GET /api/media/', 'GET /api/media/N/', 'GET /api/users/me/', 'PATCH /api/media/N/',
    'POST /api/media/', 'POST /api/token/', 'POST /api/token/revoke/', 'PUT /api/media/N/file',
  ]);
  for (const x of f.calls) assert.equal(x.init.cache, 'no-store', `${x.method} ${x.url}`);
  // the upload with progress went through the given fetch as a stream
  assert.ok(f.calls.some((x) => x.method === 'POST' && x.init.duplex === 'half' && typeof x.init.body?.getReader === 'function'));
});

test('seed-name wrappers: uploadMedia, updateMedia, deleteMedia with a token', T, async () => {
  const token = S.token('ed');
  await assert.rejects(uploadMedia(makePng(1, 1), {}, token), /configure/, 'no base URL yet');
  // per call, with the base URL as the last argument
  const m = await uploadMedia(makePng(1, 1), { title: 'seed', filename: 'seed.png' }, token, { baseUrl: S.srv.baseUrl });
  assert.equal(m.title, 'seed');
  assert.equal(m.filename, 'seed.png');
  configure({ baseUrl: S.srv.baseUrl });
  const u = await updateMedia(m.id, { caption: 'edited' }, token);
  assert.equal(u.caption, 'edited');
  await rejectsWith(updateMedia(m.id, { caption: 'x' }, null), MediaApiError, 401, 'unauthorized');
  const st = await deleteMedia(m.id, token);
  assert.equal(st.status, 'deleted');
  await rejectsWith(deleteMedia(m.id, token), MediaApiError, 404, 'not_found');
});

test('url(): the versioned URL, presets and canonical free-form segments on the server\'s url', T, async () => {
  const c = await editor();
  const m = await c.upload(makePng(2, 2), {}, { filename: 'café au lait.png' });
  assert.equal(c.url(m), m.url);
  assert.equal(m.url, `${S.srv.baseUrl}/media/${m.id}/v1/caf%C3%A9%20au%20lait.png`);
  assert.equal(c.url(m, { preset: 'thumbnail' }), `${S.srv.baseUrl}/media/${m.id}/v1/t_thumbnail/caf%C3%A9%20au%20lait.png`);
  assert.equal(c.url(m, { width: 640, format: 'webp' }), `${S.srv.baseUrl}/media/${m.id}/v1/f_webp,w_640/caf%C3%A9%20au%20lait.png`);
  // without the server's url, built from the fields on the base URL, encoded as the server does
  const bare = { id: m.id, version: m.version, filename: m.filename };
  assert.equal(c.url(bare), m.url);
  const res = await fetch(c.url(bare));
  assert.equal(res.status, 200, 'the built URL is served');
  assert.equal((await res.arrayBuffer()).byteLength, m.size);
});
