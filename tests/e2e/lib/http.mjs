// HTTP helpers: fetch wrappers, a multipart builder, streamed requests over
// node:http, and raw requests over node:net for malformed HTTP.
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseJson(buf) {
  if (!buf.length) return null;
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return null;
  }
}

/**
 * fetch() without following redirects; the whole body is read.
 * Returns {status, headers (a Headers), body (Buffer), text, json}.
 */
export async function request(baseUrl, method, path, { headers = {}, body, timeout = 30_000 } = {}) {
  const res = await fetch(new URL(path, baseUrl), {
    method,
    headers,
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(timeout),
  });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body: buf, text: buf.toString('utf8'), json: parseJson(buf) };
}

const CRLF = '\r\n';

/** Quotes a form-data parameter value the RFC 7230 way (backslash escapes). */
const quote = (s) => `"${String(s).replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/**
 * Builds a multipart/form-data body. Each part is one of
 *   {name, value}                                   a text field
 *   {name, filename, contentType, data}             a file (filename may be a Buffer: raw bytes, unescaped)
 *   {name, filenameStar, contentType, data}         filename*=UTF-8''<filenameStar> (already percent-encoded)
 *   {headers: Buffer|string, data}                  raw part headers (without the blank line)
 * Returns {body: Buffer, contentType, boundary}.
 */
export function multipart(parts, { boundary = `----medialib-e2e-${crypto.randomBytes(12).toString('hex')}`, close = true } = {}) {
  const out = [];
  for (const p of parts) {
    out.push(Buffer.from(`--${boundary}${CRLF}`));
    if (p.headers !== undefined) {
      out.push(Buffer.from(p.headers), Buffer.from(CRLF + CRLF));
    } else {
      out.push(Buffer.from(`Content-Disposition: form-data; name=${quote(p.name)}`));
      if (Buffer.isBuffer(p.filename)) out.push(Buffer.from('; filename="'), p.filename, Buffer.from('"'));
      else if (p.filename !== undefined) out.push(Buffer.from(`; filename=${quote(p.filename)}`, 'utf8'));
      if (p.filenameStar !== undefined) out.push(Buffer.from(`; filename*=UTF-8''${p.filenameStar}`));
      out.push(Buffer.from(CRLF));
      if (p.contentType) out.push(Buffer.from(`Content-Type: ${p.contentType}${CRLF}`));
      out.push(Buffer.from(CRLF));
    }
    out.push(Buffer.from(p.data ?? p.value ?? ''), Buffer.from(CRLF));
  }
  if (close) out.push(Buffer.from(`--${boundary}--${CRLF}`));
  return { body: Buffer.concat(out), contentType: `multipart/form-data; boundary=${boundary}`, boundary };
}

/** Form fields {k: v | [v...]} as multipart parts (arrays become repeated fields). */
export function fieldParts(fields = {}) {
  return Object.entries(fields).flatMap(([name, v]) => (Array.isArray(v) ? v : [v]).map((value) => ({ name, value: String(value) })));
}

/** The pieces of a multipart body around one streamed file: {head, tail, contentType}. */
export function multipartFrame({ filename, contentType, fields = {} }) {
  const { body, contentType: ct, boundary } = multipart([...fieldParts(fields), { name: 'file', filename, contentType, data: '' }], { close: false });
  // body ends with the empty file data followed by CRLF: drop that CRLF, the tail adds it back.
  return { head: body.subarray(0, body.length - 2), tail: Buffer.from(`${CRLF}--${boundary}--${CRLF}`), contentType: ct };
}

function responseOf(res, buf) {
  return { status: res.statusCode, headers: res.headers, body: buf, text: buf.toString('utf8'), json: parseJson(buf) };
}

/**
 * A request over node:http whose body is an (async) iterable of Buffers,
 * written with backpressure, so nothing big is held in memory. Resolves with
 * the response even when the server answers before the body is all sent.
 * Optional onProgress(bytesSent) may return a promise to pause the writer.
 */
export function streamRequest(url, { method = 'POST', headers = {}, body = [], timeout = 60_000, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false });
    let answered = false;
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${timeout} ms`)), timeout);
    req.on('response', (res) => {
      answered = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve(responseOf(res, Buffer.concat(chunks)));
        req.destroy();
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    req.on('error', (e) => {
      if (answered) return;
      clearTimeout(timer);
      reject(e);
    });
    (async () => {
      let sent = 0;
      for await (const chunk of body) {
        if (req.destroyed || answered) return;
        const ok = req.write(chunk);
        sent += chunk.length;
        if (!ok) await new Promise((r) => (req.once('drain', r), req.once('close', r)));
        if (onProgress) await onProgress(sent);
      }
      if (!req.destroyed) req.end();
    })().catch(() => {});
  });
}

/** GET a URL over node:http and hash the body as it streams: {status, headers, size, sha256}. */
export function hashedGet(url, { headers = {}, timeout = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, timeout }, (res) => {
      const h = crypto.createHash('sha256');
      let size = 0;
      res.on('data', (c) => {
        size += c.length;
        h.update(c);
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, size, sha256: h.digest('hex') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/**
 * Parses one HTTP/1.1 response from raw bytes (skipping 1xx interim answers).
 * `complete` tells whether the whole message (by Content-Length or chunked
 * framing) has arrived.
 */
export function parseResponse(raw, { head = false } = {}) {
  let start = 0;
  for (;;) {
    const end = raw.indexOf('\r\n\r\n', start);
    if (end < 0) return { status: null, headers: {}, body: Buffer.alloc(0), complete: false };
    const lines = raw.subarray(start, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) return { status: null, headers: {}, body: Buffer.alloc(0), complete: false, garbage: true };
    const status = Number(m[1]);
    if (status >= 100 && status < 200) {
      start = end + 4;
      continue;
    }
    const headers = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      const k = line.slice(0, i).trim().toLowerCase();
      const v = line.slice(i + 1).trim();
      headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
    }
    const body = raw.subarray(end + 4);
    let complete = false;
    if (head || status === 204 || status === 304) complete = true;
    else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) complete = body.includes('0\r\n\r\n');
    else if (headers['content-length'] !== undefined) complete = body.length >= Number(headers['content-length']);
    let json = null;
    if (complete && !head) json = parseJson(body);
    return { status, headers, body, json, complete };
  }
}

/**
 * Sends raw bytes on a fresh TCP connection and collects the answer.
 * payload: Buffer | string | async (socket) => {...} (to write over time).
 * Resolves (never rejects) with the parsed response plus
 *   closed   - the server closed (or reset) the connection
 *   timedOut - nothing conclusive happened within `timeout` ms
 *   ms       - time from connect to resolution
 * With waitClose > 0, after a complete response it waits up to that long to see
 * whether the server closes the connection.
 */
export function rawRequest(port, payload, { host = '127.0.0.1', timeout = 10_000, waitClose = 0, head = false } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(port, host);
    const chunks = [];
    let done = false;
    let closeTimer = null;
    let error = null;
    const finish = (extra) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(closeTimer);
      sock.destroy();
      const raw = Buffer.concat(chunks);
      resolve({ ...parseResponse(raw, { head }), raw, text: raw.toString('latin1'), error, ms: Date.now() - t0, ...extra });
    };
    const timer = setTimeout(() => finish({ closed: false, timedOut: true }), timeout);
    sock.on('data', (d) => {
      chunks.push(d);
      if (closeTimer) return;
      if (parseResponse(Buffer.concat(chunks), { head }).complete) {
        if (!waitClose) finish({ closed: false, timedOut: false });
        else closeTimer = setTimeout(() => finish({ closed: false, timedOut: false }), waitClose);
      }
    });
    sock.on('error', (e) => {
      error = e;
    });
    sock.on('close', () => finish({ closed: true, timedOut: false }));
    sock.on('end', () => finish({ closed: true, timedOut: false }));
    sock.on('connect', () => {
      if (typeof payload === 'function') Promise.resolve(payload(sock)).catch(() => {});
      else sock.write(payload);
    });
  });
}

/** Writes `data` to a socket `step` bytes every `intervalMs`, until done or the socket closes. */
export async function drip(sock, data, { step = 1, intervalMs = 250 } = {}) {
  const buf = Buffer.from(data);
  for (let i = 0; i < buf.length && !sock.destroyed; i += step) {
    sock.write(buf.subarray(i, i + step));
    await sleep(intervalMs);
  }
}

/** Writes a large body as fast as the peer reads it; stops quietly when the socket closes. */
export async function pump(sock, chunks) {
  for (const c of chunks) {
    if (sock.destroyed) return;
    if (!sock.write(c)) await new Promise((r) => (sock.once('drain', r), sock.once('close', r)));
  }
}

/** Frames `buf` in the chunked transfer coding, `size` bytes a chunk, ending with the last-chunk. */
export function* chunkedFrames(buf, size = 64 << 10) {
  for (let i = 0; i < buf.length; i += size) {
    const piece = buf.subarray(i, i + size);
    yield Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
  }
  yield Buffer.from('0\r\n\r\n');
}

/** A request head as raw text: request line, Host, the given headers, blank line. */
export function rawHead(port, method, target, headers = {}) {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  return `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${lines.join('')}\r\n`;
}
