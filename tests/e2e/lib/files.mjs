// Test files made in code: real, valid bytes that content sniffers recognise.
import crypto from 'node:crypto';
import fs from 'node:fs';
import zlib from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 as PNG wants it (zlib's native one when this Node has it). */
export function crc32(buf, prev = 0) {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(buf, prev);
  let c = (prev ^ 0xffffffff) >>> 0;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One PNG chunk: length, type, data, CRC over type and data. */
export function pngChunk(type, data = Buffer.alloc(0)) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
  return Buffer.concat([head, data, tail]);
}

function ihdr(width, height) {
  const d = Buffer.alloc(13);
  d.writeUInt32BE(width, 0);
  d.writeUInt32BE(height, 4);
  d[8] = 8; // bit depth
  d[9] = 2; // colour type RGB
  return pngChunk('IHDR', d);
}

/**
 * A valid RGB PNG. Pixels are random (so the file does not compress and its
 * size is about width*height*3) unless `color` ([r,g,b]) is given.
 */
export function makePng(width = 1, height = 1, { color } = {}) {
  const row = width * 3 + 1;
  let raw;
  if (color) {
    raw = Buffer.alloc(row * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) raw.set(color, y * row + 1 + x * 3);
    }
  } else {
    raw = crypto.randomBytes(row * height);
    for (let y = 0; y < height; y++) raw[y * row] = 0; // filter type None
  }
  return Buffer.concat([
    PNG_SIGNATURE,
    ihdr(width, height),
    pngChunk('IDAT', zlib.deflateSync(raw)),
    pngChunk('IEND'),
  ]);
}

/** A PNG of about `bytes` bytes (random pixels, square-ish). */
export function makePngOfSize(bytes) {
  const side = Math.max(1, Math.round(Math.sqrt(bytes / 3)));
  return makePng(side, side);
}

/** A tiny red 1x1 PNG. */
export const PNG_1x1 = makePng(1, 1, { color: [255, 0, 0] });

/**
 * A streamed PNG of about `totalBytes`: a valid 1x1 image followed by private
 * ancillary chunks ("mlBd", ignored by decoders) of 1 MiB each, then IEND.
 * Yields Buffers and never holds more than one chunk.
 */
export function* bigPngChunks(totalBytes, chunkData = 1 << 20) {
  const pattern = crypto.randomBytes(chunkData);
  const head = Buffer.concat([
    PNG_SIGNATURE,
    ihdr(1, 1),
    pngChunk('IDAT', zlib.deflateSync(Buffer.from([0, 1, 2, 3]))),
  ]);
  yield head;
  let sent = head.length + 12; // + IEND
  for (let i = 0; sent < totalBytes; i++) {
    const data = Buffer.from(pattern); // fresh buffer: the previous one may still be queued
    data.writeUInt32BE(i, 0);
    const n = Math.min(chunkData, Math.max(0, totalBytes - sent - 12));
    const chunk = pngChunk('mlBd', data.subarray(0, n));
    sent += chunk.length;
    yield chunk;
  }
  yield pngChunk('IEND');
}

/** A 3x2 baseline JPEG (made with libvips, Q=60, no metadata). */
export const JPEG_3x2 = Buffer.from(
  '/9j/2wBDAA0JCgsKCA0LCgsODg0PEyAVExISEyccHhcgLikxMC4pLSwzOko+MzZGNywtQFdBRkxOUlNSMj5aYVpQYEpRUk//' +
    '2wBDAQ4ODhMREyYVFSZPNS01T09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT0//wAARCAAC' +
    'AAMDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIh' +
    'MUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1' +
    'dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3' +
    '+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMi' +
    'MoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOE' +
    'hYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMB' +
    'AAIRAxEAPwDBoooryT7I/9k=',
  'base64',
);

/** A one-page PDF with a correct cross-reference table. */
export function makePdf() {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets = objects.map((body, i) => {
    const at = out.length;
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
    return at;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

export const SVG = Buffer.from(
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" viewBox="0 0 10 10">' +
    '<rect width="10" height="10" fill="red"/></svg>\n',
);

export const HTML = Buffer.from(
  '<!DOCTYPE html>\n<html><head><title>not an image</title></head>' +
    '<body><script>alert(document.cookie)</script></body></html>\n',
);

/** The first 8 KiB of this Node binary: real ELF bytes. */
export function elfBytes() {
  const fd = fs.openSync(process.execPath, 'r');
  try {
    const b = Buffer.alloc(8192);
    const n = fs.readSync(fd, b, 0, b.length, 0);
    return b.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}
