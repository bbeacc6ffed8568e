// Webhooks (MEDIALIB_WEBHOOK_URL): a receiver on loopback checks every
// delivery's signature (Medialib-Signature: t=..,v1=HMAC-SHA256 of "t.body"),
// the order of each media's events, and redelivery after it was down.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { after, test } from 'node:test';

import { assertMedia, client, eventually } from './lib/api.mjs';
import { makePng } from './lib/files.mjs';
import { sleep } from './lib/http.mjs';
import { useServer } from './lib/server.mjs';

const T = { timeout: 60_000 };
const SECRET = 'e2e-webhook-secret-0123456789';

/** The check a receiver does (README "Webhooks"). */
function verify(secret, header, body) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const mac = crypto.createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  const fresh = Math.abs(Date.now() / 1000 - Number(m[1])) < 300;
  return fresh && crypto.timingSafeEqual(mac, Buffer.from(m[2], 'hex'));
}

/** A receiver answering `status` to every POST; keeps every delivery. */
function startReceiver() {
  const r = { status: 200, deliveries: [] };
  r.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const status = r.status;
      let ev = null;
      try {
        ev = JSON.parse(body);
      } catch {
        // kept as null: the test fails on it
      }
      r.deliveries.push({ at: Date.now(), method: req.method, url: req.url, status, body, ev, headers: req.headers });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'down');
    });
  });
  r.acked = () => r.deliveries.filter((d) => d.status < 300);
  return new Promise((resolve) => r.server.listen(0, '127.0.0.1', () => resolve(r)));
}

const rx = await startReceiver();
const HOOK = `http://127.0.0.1:${rx.server.address().port}/hooks/medialib`;
const S = useServer({ env: { MEDIALIB_WEBHOOK_URL: HOOK, MEDIALIB_WEBHOOK_SECRET: SECRET } });
after(() => new Promise((resolve) => rx.server.close(resolve)));

/** Acknowledged event types per media id, in arrival order. */
function ackedTypes(ids) {
  const out = Object.fromEntries(ids.map((id) => [id, []]));
  for (const d of rx.acked()) if (d.ev && d.ev.data.id in out) out[d.ev.data.id].push(d.ev.type);
  return out;
}

const patchJson = (c, id, body) => c.json('PATCH', `/api/media/${id}/`, body);
const replace = (c, id, data) => c.upload(data, { method: 'PATCH', path: `/api/media/${id}/`, filename: 'b.png' });

test('every change is delivered once, signed, in order per media; the payload is the media object', T, async () => {
  const c = client(S.srv);
  const from = rx.deliveries.length;
  const a = await c.create(makePng(8, 8, { color: [1, 1, 1] }), { filename: 'a.png' });
  const b = await c.create(makePng(8, 8, { color: [2, 2, 2] }), { filename: 'b.png' });
  assert.equal((await patchJson(c, a.id, { title: 'A, edited' })).status, 200);
  assert.equal((await replace(c, a.id, makePng(9, 9, { color: [3, 3, 3] }))).status, 200);
  assert.equal((await patchJson(c, b.id, { alt_text: 'B' })).status, 200);
  assert.equal((await c.del(`/api/media/${a.id}/`)).status, 200);
  assert.equal((await c.del(`/api/media/${b.id}/`)).status, 200);

  const want = {
    [a.id]: ['media.created', 'media.updated', 'media.replaced', 'media.deleted'],
    [b.id]: ['media.created', 'media.updated', 'media.deleted'],
  };
  await eventually(() => rx.acked().length - from >= 7, { within: 15_000 });
  assert.deepEqual(ackedTypes([a.id, b.id]), want);

  const mine = rx.deliveries.slice(from);
  assert.equal(mine.length, 7, 'each event delivered once');
  assert.equal(new Set(mine.map((d) => d.ev.id)).size, 7, 'event ids are unique');
  for (const d of mine) {
    assert.equal(d.method, 'POST');
    assert.equal(d.url, '/hooks/medialib');
    assert.match(d.headers['content-type'], /^application\/json/);
    assert.ok(verify(SECRET, d.headers['medialib-signature'], d.body), `signature of ${d.ev.type} verifies`);
    assert.ok(!verify('another-secret-0123456789', d.headers['medialib-signature'], d.body));
    assert.deepEqual(Object.keys(d.ev).sort(), ['created_at', 'data', 'id', 'type']);
    assert.match(d.ev.id, /^evt_[0-9a-f]{16}$/);
    assert.match(d.ev.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    if (d.ev.type === 'media.deleted') {
      assert.deepEqual(d.ev.data, { id: d.ev.data.id, deleted: true, storage: { status: 'deleted' } });
    } else {
      assertMedia(d.ev.data, S.srv.baseUrl);
    }
  }
  const byType = (id, type) => mine.find((d) => d.ev.data.id === id && d.ev.type === type).ev.data;
  assert.equal(byType(a.id, 'media.updated').title, 'A, edited');
  assert.equal(byType(a.id, 'media.replaced').version, 2);
  assert.equal(byType(a.id, 'media.replaced').width, 9);
  assert.equal(byType(b.id, 'media.updated').alt_text, 'B');
  // A tampered body does not verify.
  const d0 = mine[0];
  assert.ok(!verify(SECRET, d0.headers['medialib-signature'], d0.body.replace('media.created', 'media.deleted')));
});

test('a receiver that is down gets every event once it is back, in order per media; the API never waits for it', T, async () => {
  const c = client(S.srv);
  const from = rx.deliveries.length;
  rx.status = 503;
  const t0 = Date.now();
  const m = await c.create(makePng(8, 8, { color: [4, 4, 4] }), { filename: 'c.png' });
  const n = await c.create(makePng(8, 8, { color: [5, 5, 5] }), { filename: 'd.png' });
  assert.equal((await patchJson(c, m.id, { title: 'one' })).status, 200);
  assert.equal((await patchJson(c, m.id, { title: 'two' })).status, 200);
  assert.equal((await replace(c, m.id, makePng(7, 7, { color: [6, 6, 6] }))).status, 200);
  assert.equal((await patchJson(c, n.id, { title: 'n' })).status, 200);
  assert.equal((await c.del(`/api/media/${m.id}/`)).status, 200);
  assert.ok(Date.now() - t0 < 10_000, 'the API answered while the receiver was down');

  // Refused several times; meanwhile only the first event of each media is tried.
  await eventually(() => rx.deliveries.length - from >= 5, { within: 15_000 });
  const refused = rx.deliveries.slice(from);
  assert.ok(refused.every((d) => d.status === 503 && d.ev.type === 'media.created'), `while down only each media's first event is tried: ${refused.map((d) => d.ev.type)}`);
  for (const d of refused) {
    const first = refused.find((e) => e.ev.id === d.ev.id);
    assert.equal(d.body, first.body, 'a redelivery sends the same body');
    assert.ok(verify(SECRET, d.headers['medialib-signature'], d.body));
  }

  rx.status = 200;
  const want = {
    [m.id]: ['media.created', 'media.updated', 'media.updated', 'media.replaced', 'media.deleted'],
    [n.id]: ['media.created', 'media.updated'],
  };
  const done = await eventually(() => rx.acked().filter((d) => d.at >= t0).length >= 7, { within: 20_000 });
  assert.ok(done, `all 7 events acknowledged (got ${rx.acked().filter((d) => d.at >= t0).length})`);
  await sleep(1500); // nothing acknowledged comes again
  assert.deepEqual(ackedTypes([m.id, n.id]), want);
  const acked = rx.deliveries.slice(from).filter((d) => d.status < 300);
  assert.equal(acked.length, 7, 'each event acknowledged exactly once');
  assert.equal(new Set(acked.map((d) => d.ev.id)).size, 7);
  assert.deepEqual(acked.filter((d) => d.ev.data.id === m.id).map((d) => d.ev.data.title).slice(1, 3), ['one', 'two']);
});
