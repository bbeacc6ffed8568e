// The browser path of uploads (XMLHttpRequest with upload.onprogress), run in
// Node against the real server through a small XMLHttpRequest made on node:http:
// the parts of the XHR API the client uses, with a browser's event order
// (upload progress events as the body goes out, upload load, then load).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { MediaApiError, createClient } from '../dist/index.js';
import { USERS, makePng, makePngOfSize, rejectsWith, useServer } from './helpers.mjs';

class NodeXMLHttpRequest {
  static created = 0;
  upload = { onprogress: null, onload: null };
  onload = null;
  onerror = null;
  onabort = null;
  status = 0;
  responseText = '';
  #method = 'GET';
  #url = '';
  #headers = {};
  #req = null;
  #res = null;
  #done = false;

  constructor() {
    NodeXMLHttpRequest.created++;
  }
  open(method, url) {
    this.#method = method;
    this.#url = url;
  }
  setRequestHeader(k, v) {
    this.#headers[k] = v;
  }
  getResponseHeader(name) {
    const v = this.#res?.headers[name.toLowerCase()];
    return v === undefined ? null : String(v);
  }
  #finish(kind) {
    if (this.#done) return;
    this.#done = true;
    this[kind]?.({ type: kind });
  }
  abort() {
    this.#req?.destroy();
    this.#finish('onabort');
  }
  async send(body) {
    const bytes = Buffer.from(await body.arrayBuffer());
    const req = http.request(this.#url, { method: this.#method, headers: { ...this.#headers, 'content-length': bytes.length } });
    this.#req = req;
    req.on('error', () => this.#finish('onerror'));
    req.on('response', (res) => {
      this.#res = res;
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        this.status = res.statusCode;
        this.responseText = Buffer.concat(chunks).toString('utf8');
        this.#finish('onload');
      });
    });
    const CHUNK = 32 * 1024;
    for (let off = 0; off < bytes.length && !this.#done; off += CHUNK) {
      const end = Math.min(off + CHUNK, bytes.length);
      await new Promise((r) => req.write(bytes.subarray(off, end), r));
      if (!this.#done) this.upload.onprogress?.({ loaded: end, total: bytes.length, lengthComputable: true });
      await new Promise((r) => setImmediate(r));
    }
    if (this.#done) return;
    req.end();
    this.upload.onload?.({ type: 'load' });
  }
}

const S = useServer();
const T = { timeout: 60_000 };
before(() => {
  globalThis.XMLHttpRequest = NodeXMLHttpRequest;
});
after(() => {
  delete globalThis.XMLHttpRequest;
});

test('with XMLHttpRequest and no custom fetch: uploads and replaces go through it, with progress', T, async () => {
  const c = createClient({ baseUrl: S.srv.baseUrl });
  await c.login('ed', USERS.ed[1]);
  const before = NodeXMLHttpRequest.created;
  const png = makePngOfSize(200_000);
  const events = [];
  const m = await c.upload(png, { title: 'via xhr', tags: ['x'] }, { filename: 'xhr.png', onProgress: (p) => events.push({ ...p }) });
  assert.equal(m.title, 'via xhr');
  assert.equal(m.size, png.length);
  assert.ok(events.length > 2, `several progress events (${events.length})`);
  for (let i = 1; i < events.length; i++) assert.ok(events[i].loaded > events[i - 1].loaded);
  assert.equal(events.at(-1).loaded, events.at(-1).total);
  const r = await c.replace(m.id, makePng(3, 3), { filename: 'xhr2.png' });
  assert.equal(r.version, 2);
  assert.equal(NodeXMLHttpRequest.created - before, 2, 'one XMLHttpRequest per upload, none for the rest');
  await rejectsWith(c.replace(m.id, makePng(1, 1), { filename: 'x.png', signal: AbortSignal.abort() }), MediaApiError, 0, 'aborted');

  // the server's JSON errors come through XHR too
  const e = await rejectsWith(c.replace(999999, makePng(1, 1), { filename: 'x.png' }), MediaApiError, 404, 'not_found');
  assert.ok(e.requestId);
});

test('abort through XMLHttpRequest mid-upload: aborted, nothing stored', T, async () => {
  const c = createClient({ baseUrl: S.srv.baseUrl });
  await c.login('ed', USERS.ed[1]);
  const folder = `xhr-abort-${Date.now()}`;
  const ac = new AbortController();
  const err = await rejectsWith(
    c.upload(makePngOfSize(3_000_000), { folder }, { filename: 'big.png', signal: ac.signal, onProgress: () => ac.abort() }),
    MediaApiError, 0, 'aborted',
  );
  assert.equal(err.name, 'AbortError');
  assert.equal((await c.list({ folder })).count, 0);
});

test('a custom fetch wins over XMLHttpRequest', T, async () => {
  let fetched = 0;
  const c = createClient({ baseUrl: S.srv.baseUrl, fetch: (u, i) => (fetched++, fetch(u, i)) });
  await c.login('ed', USERS.ed[1]);
  const before = NodeXMLHttpRequest.created;
  await c.upload(makePng(1, 1), {}, { filename: 'f.png' });
  assert.equal(NodeXMLHttpRequest.created, before);
  assert.equal(fetched, 2);
});
