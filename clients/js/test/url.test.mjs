// url(), transform segments and signUrl(): pure computation, no server.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { canonicalTransform, createClient, mediaUrl, parseTransform, signUrl, signature, transformSegment } from '../dist/index.js';

const media = { id: 42, version: 3, filename: 'photo.jpg', url: 'https://cdn.example/media/42/v3/photo.jpg' };

// Known answers computed outside this code, with Python's hmac module:
//   python3 -c "import hmac,hashlib,base64; d=hmac.new(KEY, (CANONICAL+'\n'+PATH).encode(),
//               hashlib.sha256).digest()[:16]; print(base64.urlsafe_b64encode(d).rstrip(b'=').decode())"
const KEY = 'medialib-test-signing-key-0123456789';
const KNOWN = [
  // [key, canonical, path, signature]
  [KEY, 'f_webp,w_640', '/media/42/v3/photo.jpg', 'MHDz8r_QWjNevhieMIeIKw'],
  [KEY, 'c_fill,h_200,w_200', '/media/42/v3/photo.jpg', 'IC0h9MxeYT1veLmQ4ZsUSA'],
  [KEY, 'c_limit,f_auto,h_300,q_80,w_400', '/media/7/v12/caf%C3%A9%20au%20lait.png', '9fAl4AkvnbVPS6TmwS0lyQ'],
  // KEY = bytes(range(32))
  [Uint8Array.from({ length: 32 }, (_, i) => i), 'w_100', '/media/1/v1/a.png', 'ILZxam0YIzi1XQnIFj8kRQ'],
];

test('signature(): the known answers of Python hmac (HMAC-SHA256, 16 bytes, base64url, no padding)', async () => {
  for (const [key, canonical, path, want] of KNOWN) {
    const got = await signature(key, canonical, path);
    assert.equal(got, want, `${canonical} ${path}`);
    assert.equal(got.length, 22);
  }
  // the same key as an ArrayBuffer and as a Node Buffer
  assert.equal(await signature(new TextEncoder().encode(KEY).buffer, 'f_webp,w_640', '/media/42/v3/photo.jpg'), KNOWN[0][3]);
  assert.equal(await signature(Buffer.from(KEY), 'f_webp,w_640', '/media/42/v3/photo.jpg'), KNOWN[0][3]);
  await assert.rejects(signature('', 'w_1', '/media/1/v1/a.png'), TypeError);
});

test('signUrl(): canonical transform, s_ segment before it, path without them; presets expanded', async () => {
  const base = 'https://cdn.example/media/42/v3';
  assert.equal(await signUrl(`${base}/w_640,f_webp/photo.jpg`, KEY), `${base}/s_${KNOWN[0][3]}/f_webp,w_640/photo.jpg`);
  assert.equal(await signUrl(`${base}/f_webp,c_fit,w_640/photo.jpg`, KEY), `${base}/s_${KNOWN[0][3]}/f_webp,w_640/photo.jpg`, 'c_fit is the default: not written, same signature');
  assert.equal(await signUrl(`${base}/t_thumbnail/photo.jpg`, KEY), `${base}/s_${KNOWN[1][3]}/c_fill,h_200,w_200/photo.jpg`);
  assert.equal(await signUrl(`/media/7/v12/w_400,h_300,q_80,f_auto,c_limit/caf%C3%A9%20au%20lait.png?x=1`, KEY),
    `/media/7/v12/s_${KNOWN[2][3]}/c_limit,f_auto,h_300,q_80,w_400/caf%C3%A9%20au%20lait.png?x=1`);
  // an old signature is replaced, not stacked
  const again = await signUrl(`${base}/s_AAAAAAAAAAAAAAAAAAAAAA/w_640,f_webp/photo.jpg`, KEY);
  assert.equal(again, `${base}/s_${KNOWN[0][3]}/f_webp,w_640/photo.jpg`);
  // another version, file or key gives another signature
  assert.notEqual(await signUrl('/media/42/v4/w_640/photo.jpg', KEY), (await signUrl('/media/42/v3/w_640/photo.jpg', KEY)).replace('/v3/', '/v4/'));
  assert.notEqual(await signUrl('/media/42/v3/w_640/photo.jpg', `${KEY}x`), await signUrl('/media/42/v3/w_640/photo.jpg', KEY));
  // a reconfigured preset table
  assert.equal(await signUrl('/media/42/v3/t_hero/photo.jpg', KEY, { presets: { hero: { width: 640, format: 'webp' } } }),
    `/media/42/v3/s_${KNOWN[0][3]}/f_webp,w_640/photo.jpg`);
  await assert.rejects(signUrl('/media/42/v3/t_hero/photo.jpg', KEY), /unknown preset/);
  await assert.rejects(signUrl(`${base}/photo.jpg`, KEY), /not a transform URL/);
  await assert.rejects(signUrl(`${base}/w_0/photo.jpg`, KEY), TypeError);
});

test('client.signedUrl(): url() then signUrl()', async () => {
  const c = createClient({ baseUrl: 'https://api.example' });
  assert.equal(await c.signedUrl(media, { width: 640, format: 'webp' }, KEY), `https://cdn.example/media/42/v3/s_${KNOWN[0][3]}/f_webp,w_640/photo.jpg`);
});

test('url(): versioned, the server\'s url first, presets and canonical free-form segments', () => {
  const c = createClient({ baseUrl: 'https://api.example/' });
  assert.equal(c.baseUrl, 'https://api.example');
  assert.equal(c.url(media), media.url);
  assert.equal(c.url(media, { preset: 'thumbnail' }), 'https://cdn.example/media/42/v3/t_thumbnail/photo.jpg');
  assert.equal(c.url(media, 't_small'), 'https://cdn.example/media/42/v3/t_small/photo.jpg');
  assert.equal(c.url(media, { width: 480, height: 320, crop: 'fill', format: 'avif', quality: 70 }), 'https://cdn.example/media/42/v3/c_fill,f_avif,h_320,q_70,w_480/photo.jpg');
  assert.equal(c.url(media, { width: 480, crop: 'fit' }), 'https://cdn.example/media/42/v3/w_480/photo.jpg');
  assert.equal(c.url(media, 'q_50,w_100,c_limit'), 'https://cdn.example/media/42/v3/c_limit,q_50,w_100/photo.jpg');
  assert.equal(c.url(media, { format: 'auto' }), 'https://cdn.example/media/42/v3/f_auto/photo.jpg');
  // without a url, on the base URL, the filename encoded as the server encodes it
  assert.equal(c.url({ id: 5, version: 2, filename: "it's (a) café!.png" }), "https://api.example/media/5/v2/it%27s%20%28a%29%20caf%C3%A9%21.png");
  assert.equal(mediaUrl('', { id: 5, version: 2, filename: 'a.png' }, { width: 10 }), '/media/5/v2/w_10/a.png');
  assert.throws(() => c.url({ id: 5, version: 0, filename: 'a.png' }), TypeError);
});

test('transforms the server would refuse are refused here too', () => {
  for (const bad of [
    '', 'w_0', 'w_8193', 'w_01', 'w_+5', 'w_1.5', 'q_101', 'q_0', 'w_10,w_20', 'x_1', 'c_fit', 'c_fill,w_10',
    'c_cover,w_10', 'f_gif', 't_thumbnail,w_10', 't_', 't_Big', 'w_10,', 'w_10%2Ch_5', 'x'.repeat(257),
    { width: 0 }, { quality: 200 }, { crop: 'fill', width: 10 }, { preset: 'thumbnail', width: 10 }, {}, { format: 'gif' },
  ]) {
    assert.throws(() => transformSegment(bad), TypeError, JSON.stringify(bad));
  }
  assert.deepEqual(parseTransform('t_thumbnail'), { preset: 'thumbnail' });
  assert.deepEqual(parseTransform('h_5,w_8192'), { parts: { width: 8192, height: 5 } });
  assert.equal(canonicalTransform({ preset: 'large' }), 'w_1920');
  assert.equal(canonicalTransform('c_fit,h_10'), 'h_10');
});
