// Seeds a running medialib with N small PNG uploads (concurrently) and one
// 100 KiB PNG; prints JSON {"image_url": ..., "media_id": ...} on stdout.
import { deflateSync, crc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';

const [base, countArg] = process.argv.slice(2);
const count = Number(countArg || 1000);

function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}
function png(padBytes = 0) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0); ihdr.writeUInt32BE(1, 4); ihdr[8] = 8; ihdr[9] = 2;
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (padBytes > 0) parts.push(chunk('teXt', randomBytes(padBytes)));
  parts.push(chunk('IDAT', deflateSync(Buffer.from([0, 255, 0, 0]))), chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}
async function upload(body, name, title) {
  const fd = new FormData();
  fd.append('file', new Blob([body], { type: 'image/png' }), name);
  fd.append('title', title);
  fd.append('tags', 'bench,seed');
  const res = await fetch(`${base}/api/media/`, { method: 'POST', body: fd });
  if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
  return res.json();
}

const small = png();
let next = 0;
async function worker() {
  while (next < count) { const i = next++; await upload(small, `seed-${i}.png`, `Seed image ${i}`); }
}
await Promise.all(Array.from({ length: 8 }, worker));
const big = png(100 * 1024 - small.length - 12);
const m = await upload(big, 'photo-100k.png', 'A 100 KiB image');
console.log(JSON.stringify({ image_url: m.url, media_id: m.id, size: m.size }));
