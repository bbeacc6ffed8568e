// GET /api/media/: DRF page-number pagination, search, filters and ordering.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertError, assertFieldError, assertMedia, client } from './lib/api.mjs';
import { JPEG_3x2, makePdf, makePng } from './lib/files.mjs';
import { sleep } from './lib/http.mjs';
import { SLOW, useServer } from './lib/server.mjs';


// Fixtures: distinct titles and sizes, created out of size order.
const SPECS = {
  first: { data: makePng(12, 12), filename: 'first.png', fields: { title: 'aaa first', folder: 'fc' } },
  a: { data: makePng(2, 2), filename: 'a.png', fields: { title: 'apple zebra-alpha', folder: 'fa', tags: 'red, common' } },
  b: { data: JPEG_3x2, filename: 'b.jpg', contentType: 'image/jpeg', fields: { title: 'banana', alt_text: 'a unicorn-beta grazing', folder: 'fb', tags: 'common' } },
  c: { data: makePdf(), filename: 'c.pdf', contentType: 'application/pdf', fields: { title: 'cherry', caption: 'the narwhal-gamma report', folder: 'fa', tags: 'doc' } },
  d: { data: makePng(8, 8), filename: 'okapi-delta.png', fields: { title: 'damson', folder: 'fb', tags: 'red' } },
  e: { data: makePng(20, 20), filename: 'e.png', fields: { title: 'elder', folder: 'fc' } },
  f: { data: makePng(4, 4), filename: 'f.png', fields: { title: 'fig', folder: 'fa' } },
};
const M = {}; // name -> media object

async function createFixtures(srv) {
  const c = client(srv);
  M.first = await c.create(SPECS.first.data, SPECS.first);
  await sleep(1100); // so created_at orders 'first' strictly before the rest
  for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) M[name] = await c.create(SPECS[name].data, SPECS[name]);
  await sleep(1100);
  const res = await c.json('PATCH', `/api/media/${M.c.id}/`, { alt_text: 'edited last' });
  assert.equal(res.status, 200, res.text);
  M.c = res.json;
}

const S = useServer({}, createFixtures);
const T = { timeout: 30_000 * SLOW };
const api = () => client(S.srv);

const idsOf = (...names) => names.map((n) => M[n].id).sort((x, y) => x - y);

async function list(query) {
  const res = await api().get(`/api/media/?${query}`);
  assert.equal(res.status, 200, `GET /api/media/?${query} → ${res.status}: ${res.text.slice(0, 300)}`);
  return res.json;
}

/** Ids of one big page, in the server's order. */
const listIds = async (query) => (await list(`${query}&page_size=100`)).results.map((m) => m.id);
const sortedIds = async (query) => (await listIds(query)).sort((x, y) => x - y);

test('the list answers {count, next, previous, results} with full media objects', T, async () => {
  const body = await list('page_size=100');
  assert.deepEqual(Object.keys(body).sort(), ['count', 'next', 'previous', 'results']);
  assert.equal(body.count, 7);
  assert.equal(body.next, null);
  assert.equal(body.previous, null);
  assert.equal(body.results.length, 7);
  for (const m of body.results) assertMedia(m, api().base);
  const byId = Object.fromEntries(body.results.map((m) => [m.id, m]));
  assert.deepEqual(byId[M.c.id], M.c, 'a list item equals the object GET returns');
});

test('page_size pages; next/previous are absolute URLs keeping the filters; walking next visits each item once', T, async () => {
  const c = api();
  const seen = [];
  let url = `${c.base}/api/media/?mime=${encodeURIComponent('image/*')}&page_size=2`;
  for (let page = 1; url; page++) {
    assert.ok(page <= 3, 'at most 3 pages');
    const res = await c.get(url);
    assert.equal(res.status, 200, res.text);
    const { count, next, previous, results } = res.json;
    assert.equal(count, 6, 'count is the filtered total on every page');
    assert.equal(results.length, 2);
    seen.push(...results.map((m) => m.id));
    if (page === 1) assert.equal(previous, null);
    else {
      assert.ok(previous?.startsWith(`${c.base}/api/media/`), `previous is absolute: ${previous}`);
      const p = new URL(previous).searchParams;
      assert.equal(p.get('page') ?? '1', String(page - 1));
      assert.equal(p.get('mime'), 'image/*');
      assert.equal(p.get('page_size'), '2');
    }
    if (page === 3) assert.equal(next, null, 'the last page has no next');
    else {
      assert.ok(next?.startsWith(`${c.base}/api/media/`), `next is absolute: ${next}`);
      const p = new URL(next).searchParams;
      assert.equal(p.get('page'), String(page + 1));
      assert.equal(p.get('mime'), 'image/*', 'next keeps the filter');
      assert.equal(p.get('page_size'), '2', 'next keeps page_size');
    }
    url = next;
  }
  assert.deepEqual([...seen].sort((x, y) => x - y), idsOf('first', 'a', 'b', 'd', 'e', 'f'), 'every image once, nothing else');
});

test('a page past the last → 404 not_found', T, async () => {
  assertError(await api().get('/api/media/?page=99'), 404, 'not_found');
  assertError(await api().get(`/api/media/?page=4&page_size=2&mime=${encodeURIComponent('image/*')}`), 404, 'not_found');
});

test('an empty result is page 1 with count 0, not an error', T, async () => {
  const body = await list('q=nothing-matches-this-xyzzy');
  assert.deepEqual(body, { count: 0, next: null, previous: null, results: [] });
});

for (const page of ['0', 'abc', '-1', '1.5']) {
  test(`page=${page} → 400 JSON error`, T, async () => {
    assertError(await api().get(`/api/media/?page=${page}`), 400, ['validation_failed', 'bad_request']);
  });
}

test('page_size=100 is allowed; 101 and 0 → 400 validation_failed naming page_size', T, async () => {
  assert.equal((await list('page_size=100')).results.length, 7);
  assertFieldError(await api().get('/api/media/?page_size=101'), 'page_size');
  assertFieldError(await api().get('/api/media/?page_size=0'), 'page_size');
});

const SEARCHES = [
  ['title', 'zebra-alpha', 'a'],
  ['alt text', 'unicorn-beta', 'b'],
  ['caption', 'narwhal-gamma', 'c'],
  ['filename', 'okapi-delta', 'd'],
];
for (const [field, q, name] of SEARCHES) {
  test(`q matches the ${field}`, T, async () => {
    assert.deepEqual(await sortedIds(`q=${encodeURIComponent(q)}`), idsOf(name));
  });
}

test('mime filters by exact type and by image/*', T, async () => {
  assert.deepEqual(await sortedIds('mime=image/png'), idsOf('first', 'a', 'd', 'e', 'f'));
  assert.deepEqual(await sortedIds('mime=image/jpeg'), idsOf('b'));
  assert.deepEqual(await sortedIds('mime=application/pdf'), idsOf('c'));
  assert.deepEqual(await sortedIds(`mime=${encodeURIComponent('image/*')}`), idsOf('first', 'a', 'b', 'd', 'e', 'f'));
});

test('folder and tag filter, and filters combine', T, async () => {
  assert.deepEqual(await sortedIds('folder=fa'), idsOf('a', 'c', 'f'));
  assert.deepEqual(await sortedIds('folder=fb'), idsOf('b', 'd'));
  assert.deepEqual(await sortedIds('tag=red'), idsOf('a', 'd'));
  assert.deepEqual(await sortedIds('tag=common'), idsOf('a', 'b'));
  assert.deepEqual(await sortedIds('mime=image/png&folder=fa&tag=red'), idsOf('a'));
  assert.deepEqual(await sortedIds('folder=nowhere'), []);
});

/** Expected id order when sorting the fixtures by a field with distinct values. */
function expectedOrder(field, desc) {
  const all = Object.values(M);
  const values = new Set(all.map((m) => m[field]));
  assert.equal(values.size, all.length, `fixture ${field}s are distinct (test precondition)`);
  const cmp = (x, y) => (x[field] < y[field] ? -1 : x[field] > y[field] ? 1 : 0);
  return all.sort((x, y) => (desc ? -cmp(x, y) : cmp(x, y))).map((m) => m.id);
}

for (const field of ['title', 'size']) {
  for (const desc of [false, true]) {
    test(`ordering=${desc ? '-' : ''}${field} sorts the list`, T, async () => {
      assert.deepEqual(await listIds(`ordering=${desc ? '-' : ''}${field}`), expectedOrder(field, desc));
    });
  }
}

/** Asserts that timestamps are monotonic in the listed order and the named item is at the given end. */
async function assertTimeOrdering(field, desc) {
  const { results } = await list(`ordering=${desc ? '-' : ''}${field}&page_size=100`);
  assert.equal(results.length, 7);
  const times = results.map((m) => Date.parse(m[field]));
  for (let i = 1; i < times.length; i++) {
    assert.ok(desc ? times[i - 1] >= times[i] : times[i - 1] <= times[i], `${field} is ${desc ? 'descending' : 'ascending'} at ${i}`);
  }
  return results.map((m) => m.id);
}

test('ordering=created_at and -created_at sort by creation time', T, async () => {
  const asc = await assertTimeOrdering('created_at', false);
  assert.equal(asc[0], M.first.id, 'the oldest comes first');
  const desc = await assertTimeOrdering('created_at', true);
  assert.equal(desc.at(-1), M.first.id, 'the oldest comes last');
});

test('ordering=updated_at and -updated_at sort by the last edit', T, async () => {
  const asc = await assertTimeOrdering('updated_at', false);
  assert.equal(asc.at(-1), M.c.id, 'the last edited comes last');
  const desc = await assertTimeOrdering('updated_at', true);
  assert.equal(desc[0], M.c.id, 'the last edited comes first');
});

for (const ordering of ['bogus', 'password', 'id;drop table media', '--title']) {
  test(`ordering=${ordering} → 400 validation_failed naming ordering`, T, async () => {
    assertFieldError(await api().get(`/api/media/?ordering=${encodeURIComponent(ordering)}`), 'ordering');
  });
}
