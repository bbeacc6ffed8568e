/**
 * Getting a request to the server and its answer back, three ways:
 * - fetch, for everything without upload progress;
 * - XMLHttpRequest, for uploads in browsers (the only way a browser reports
 *   upload progress over HTTP/1.1);
 * - fetch with a ReadableStream body (`duplex: 'half'`) that counts the bytes
 *   as fetch pulls them, for uploads where there is no XMLHttpRequest (Node).
 * Each answers a RawAnswer or throws a TransportFailure; deciding what an
 * answer means is the client's job (client.ts).
 */

/** The parts of fetch this client uses; any WHATWG-compatible fetch fits. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** A request as it goes on the wire. */
export interface Outgoing {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | Blob;
  signal?: AbortSignal | undefined;
}

/** An upload: a Blob body, and who to tell how much of it is out. */
export interface OutgoingUpload extends Outgoing {
  body: Blob;
  onSent: (loaded: number) => void;
}

/** The status, headers and text of an answer. */
export interface RawAnswer {
  status: number;
  header: (name: string) => string | null;
  text: string;
}

/**
 * No answer: the connection failed or the request was aborted. `bodyComplete`
 * says whether the whole body had been handed over; when it had not, the
 * server cannot have acted on the request.
 */
export class TransportFailure extends Error {
  readonly cause: unknown;
  readonly bodyComplete: boolean;

  constructor(cause: unknown, bodyComplete: boolean) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'TransportFailure';
    this.cause = cause;
    this.bodyComplete = bodyComplete;
  }
}

/** Bytes handed to fetch per pull of the counting stream. */
const CHUNK = 64 * 1024;

/** Reads a fetch Response into a RawAnswer. */
async function answerOf(res: Response): Promise<RawAnswer> {
  const text = await res.text();
  return { status: res.status, header: (name) => res.headers.get(name), text };
}

/** The fetch options shared by both fetch transports; API answers are never cached. */
function fetchInit(req: Outgoing): RequestInit {
  const init: RequestInit = { method: req.method, headers: req.headers, cache: 'no-store' };
  if (req.signal) init.signal = req.signal;
  return init;
}

/** Sends with fetch, the body (if any) as it is. */
export async function sendFetch(fetchFn: FetchLike, req: Outgoing): Promise<RawAnswer> {
  const init = fetchInit(req);
  if (req.body !== undefined) init.body = req.body;
  try {
    return await answerOf(await fetchFn(req.url, init));
  } catch (e) {
    throw new TransportFailure(e, req.body === undefined || typeof req.body === 'string');
  }
}

/** True where XMLHttpRequest exists (browsers, web workers do not have it). */
export function hasXhr(): boolean {
  return typeof XMLHttpRequest !== 'undefined';
}

/** The error an aborted XMLHttpRequest rejects with, like fetch's. */
function abortError(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new DOMException('The upload was aborted', 'AbortError');
}

/** Sends an upload with XMLHttpRequest, reporting `upload.onprogress`. */
export function sendXhr(req: OutgoingUpload): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    if (req.signal?.aborted) return reject(new TransportFailure(abortError(req.signal), false));
    const xhr = new XMLHttpRequest();
    let bodyComplete = false;
    const onAbort = (): void => xhr.abort();
    const settle = (): void => req.signal?.removeEventListener('abort', onAbort);
    xhr.open(req.method, req.url);
    for (const [k, v] of Object.entries(req.headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => req.onSent(e.loaded);
    xhr.upload.onload = () => {
      bodyComplete = true;
    };
    xhr.onload = () => {
      settle();
      resolve({ status: xhr.status, header: (name) => xhr.getResponseHeader(name), text: xhr.responseText });
    };
    xhr.onerror = () => {
      settle();
      reject(new TransportFailure(new TypeError('XMLHttpRequest network error'), bodyComplete));
    };
    xhr.onabort = () => {
      settle();
      reject(new TransportFailure(abortError(req.signal), bodyComplete));
    };
    req.signal?.addEventListener('abort', onAbort, { once: true });
    xhr.send(req.body);
  });
}

/** A stream of the blob in CHUNK pieces, read only when fetch pulls, counting as it goes. */
function countingStream(blob: Blob, onPulled: (loaded: number) => void): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (offset >= blob.size) return controller.close();
        const end = Math.min(offset + CHUNK, blob.size);
        controller.enqueue(new Uint8Array(await blob.slice(offset, end).arrayBuffer()));
        offset = end;
        onPulled(offset);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Sends an upload with fetch and a counting stream body (Node 18+). */
export async function sendCounting(fetchFn: FetchLike, req: OutgoingUpload): Promise<RawAnswer> {
  let pulled = 0;
  const body = countingStream(req.body, (n) => {
    pulled = n;
    req.onSent(n);
  });
  // duplex is required for stream bodies and missing from TypeScript's DOM types.
  const init = { ...fetchInit(req), body, duplex: 'half' } as RequestInit;
  try {
    return await answerOf(await fetchFn(req.url, init));
  } catch (e) {
    throw new TransportFailure(e, pulled >= req.body.size);
  }
}
