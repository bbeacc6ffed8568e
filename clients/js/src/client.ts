/**
 * createClient(): the medialib API as typed functions. Every call goes out with
 * `cache: 'no-store'`, rejects with a MediaApiError, and, once logged in, refreshes
 * an expired access token by itself (one POST /api/token/refresh/ and one retry).
 */
import { multipartUpload, namedFile, attachmentDisposition } from './body.js';
import { MediaApiError, errorFromAnswer, errorFromFailure } from './errors.js';
import { signUrl, type SignOptions, type SigningKey } from './sign.js';
import {
  TransportFailure,
  hasXhr,
  sendCounting,
  sendFetch,
  sendXhr,
  type FetchLike,
  type OutgoingUpload,
  type RawAnswer,
} from './transport.js';
import type {
  CallOptions,
  DeleteAnswer,
  FileInput,
  ListFilters,
  Media,
  MediaFields,
  Page,
  StorageStatus,
  Tokens,
  Transform,
  UploadMetadata,
  UploadOptions,
  User,
} from './types.js';
import { mediaUrl, type MediaRef } from './url.js';

/** Where a call's access token comes from when nobody logged in through this client. */
export type TokenSource = () => string | null | undefined | Promise<string | null | undefined>;

/** Options of createClient(). */
export interface ClientOptions {
  /** The server's origin (and path prefix, if any): `https://media.example.com`. */
  baseUrl: string;
  /** A fixed access token (e.g. from `medialib token --user NAME`). */
  token?: string;
  /** Called before each call for the access token (e.g. from your own session store). */
  getToken?: TokenSource;
  /**
   * The fetch to use (default: globalThis.fetch). Giving one also makes uploads use it
   * (with a counting stream body) instead of XMLHttpRequest in browsers.
   */
  fetch?: FetchLike;
  /** Tokens of an earlier login() to resume (e.g. kept by onSession). */
  session?: Tokens;
  /** Called when login(), a refresh or logout() changes the session (null: logged out). */
  onSession?: (session: Tokens | null) => void;
}

/** The API bound to one server; see createClient(). */
export interface MediaClient {
  /** The base URL, without a trailing slash. */
  readonly baseUrl: string;
  /** One page of media: GET /api/media/ with the filters. */
  list(filters?: ListFilters, options?: CallOptions): Promise<Page<Media>>;
  /** Every page from `filters.page` (default 1) on, one GET per page, until `next` is null. */
  listPages(filters?: ListFilters, options?: CallOptions): AsyncGenerator<Page<Media>, void, undefined>;
  /** Every media of every page from `filters.page` on (see listPages). */
  listAll(filters?: ListFilters, options?: CallOptions): AsyncGenerator<Media, void, undefined>;
  /** One media: GET /api/media/{id}/. */
  get(id: number, options?: CallOptions): Promise<Media>;
  /** Uploads a file with its metadata: POST /api/media/ (multipart). */
  upload(file: FileInput, metadata?: UploadMetadata, options?: UploadOptions): Promise<Media>;
  /** Edits metadata: PATCH /api/media/{id}/ (JSON); the version does not change. */
  update(id: number, fields: MediaFields, options?: CallOptions): Promise<Media>;
  /** Replaces the file: PUT /api/media/{id}/file (raw body); the version and URL change. */
  replace(id: number, file: FileInput, options?: UploadOptions): Promise<Media>;
  /** Deletes: DELETE /api/media/{id}/; answers the storage status (`deleted` or `pending`). */
  remove(id: number, options?: CallOptions): Promise<StorageStatus>;
  /** Logs in: POST /api/token/; keeps the access and refresh tokens for later calls. */
  login(username: string, password: string, options?: CallOptions): Promise<Tokens>;
  /** Logs out: POST /api/token/revoke/ with the refresh token, then forgets both tokens. */
  logout(options?: CallOptions): Promise<void>;
  /** The logged-in user: GET /api/users/me/. */
  me(options?: CallOptions): Promise<User>;
  /** The tokens of the current login, or null. */
  readonly session: Tokens | null;
  /** The versioned URL of a media's file, or of a transform of it (sync; no request). */
  url(media: MediaRef, transform?: Transform): string;
  /**
   * url() with a signature for a free-form transform. SERVER-SIDE ONLY: never ship
   * the signing key to browsers (see signUrl()).
   */
  signedUrl(media: MediaRef, transform: Transform, key: SigningKey, options?: SignOptions): Promise<string>;
}

/** A request before it is sent: its body is a string, a Blob to upload, or nothing. */
interface Call {
  method: string;
  path: string;
  what: string;
  json?: unknown;
  upload?: { body: Blob; contentType: string; headers?: Record<string, string>; options: UploadOptions };
  signal?: AbortSignal | undefined;
  /** Send the access token and refresh on 401 (false for the token endpoints). */
  auth: boolean;
}

/** True when the JWT's `exp` claim is less than `seconds` away (or unreadable: then false). */
function expiresWithin(jwt: string, seconds: number): boolean {
  try {
    const part = jwt.split('.')[1] ?? '';
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (part.length % 4)) % 4));
    const exp: unknown = JSON.parse(json).exp;
    return typeof exp === 'number' && exp - Date.now() / 1000 < seconds;
  } catch {
    return false;
  }
}

function idPath(id: number): string {
  if (!Number.isSafeInteger(id) || id < 1) throw new TypeError(`a media id is a positive integer, got ${String(id)}`);
  return `/api/media/${id}/`;
}

function query(filters: ListFilters): string {
  const q = new URLSearchParams();
  const keys = ['page', 'page_size', 'q', 'mime', 'folder', 'tag', 'ordering'] as const;
  for (const k of keys) {
    const v = filters[k];
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Creates a client for the medialib server at `options.baseUrl`. */
export function createClient(options: ClientOptions): MediaClient {
  if (!options || typeof options.baseUrl !== 'string' || !/^https?:\/\/|^\//.test(options.baseUrl)) {
    throw new TypeError('createClient needs a baseUrl such as "https://media.example.com"');
  }
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const customFetch = options.fetch;
  const fetchFn: FetchLike = customFetch ?? ((input, init) => globalThis.fetch(input, init));
  let session: Tokens | null = options.session ? { ...options.session } : null;
  let refreshing: Promise<boolean> | null = null;

  const setSession = (s: Tokens | null): void => {
    session = s;
    options.onSession?.(s ? { ...s } : null);
  };

  async function accessToken(): Promise<string | null> {
    if (session) return session.access;
    if (options.token) return options.token;
    if (options.getToken) return (await options.getToken()) || null;
    return null;
  }

  /** Parses a 2xx answer's JSON, or rejects an error answer. */
  function interpret(ans: RawAnswer, what: string): unknown {
    let body: unknown;
    try {
      body = ans.text ? JSON.parse(ans.text) : undefined;
    } catch {
      body = undefined;
    }
    const requestId = ans.header('x-request-id');
    if (ans.status >= 200 && ans.status < 300) {
      if (body === undefined || body === null || typeof body !== 'object') {
        throw new MediaApiError(`${what}: the server answered ${ans.status} without the JSON the API promises`, {
          status: ans.status,
          code: 'invalid_response',
          requestId,
        });
      }
      return body;
    }
    throw errorFromAnswer(ans.status, body, ans.text, requestId);
  }

  /** One attempt on the wire. */
  async function send(call: Call, token: string | null, onSent?: (loaded: number) => void): Promise<RawAnswer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token && call.auth) headers.authorization = `Bearer ${token}`;
    const url = `${baseUrl}${call.path}`;
    try {
      if (call.upload) {
        const up = call.upload;
        const req: OutgoingUpload = {
          method: call.method,
          url,
          headers: { ...headers, 'content-type': up.contentType, ...up.headers },
          body: up.body,
          signal: call.signal,
          onSent: onSent ?? (() => {}),
        };
        // XMLHttpRequest is the browser's way to report upload progress; a counting
        // stream (chunked) elsewhere: it also gets the server's early 413 answers,
        // which a Content-Length body loses to EPIPE in Node.
        return !customFetch && hasXhr() ? await sendXhr(req) : await sendCounting(fetchFn, req);
      }
      if (call.json !== undefined) headers['content-type'] = 'application/json';
      return await sendFetch(fetchFn, {
        method: call.method,
        url,
        headers,
        ...(call.json !== undefined ? { body: JSON.stringify(call.json) } : {}),
        signal: call.signal,
      });
    } catch (e) {
      throw errorFromFailure(e instanceof TransportFailure ? e.cause : e, call.signal, call.what);
    }
  }

  /**
   * POST /api/token/refresh/ once for every call that got a 401 at the same time
   * (without any one caller's signal: the others wait for the same answer).
   */
  function refresh(): Promise<boolean> {
    const current = session;
    if (!current) return Promise.resolve(false);
    refreshing ??= (async () => {
      try {
        const ans = await send(
          { method: 'POST', path: '/api/token/refresh/', what: 'token refresh', json: { refresh: current.refresh }, auth: false },
          null,
        );
        if (ans.status === 401) {
          if (session === current) setSession(null); // the refresh token is dead: logged out
          return false;
        }
        const body = interpret(ans, 'token refresh') as { access?: unknown };
        if (typeof body.access !== 'string') throw new MediaApiError('token refresh: no access token in the answer', { status: ans.status, code: 'invalid_response' });
        if (session === current) setSession({ access: body.access, refresh: current.refresh });
        return true;
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  /** Sends a call, refreshing and retrying once on 401 when logged in. */
  async function request<T>(call: Call): Promise<T> {
    const progress = call.upload?.options.onProgress;
    const total = call.upload?.body.size ?? 0;
    let reported = -1;
    // A retried upload starts again from 0: report only what goes beyond the last report.
    const onSent = progress
      ? (loaded: number): void => {
          if (loaded <= reported) return;
          reported = loaded;
          progress({ loaded, total });
        }
      : undefined;
    // An upload refreshes an expiring session first rather than on a 401: the server
    // refuses it before reading the body and closes the connection, and Node's fetch
    // then reports EPIPE for a streamed body instead of the 401 (see README).
    if (call.upload && call.auth && session && expiresWithin(session.access, 10)) await refresh();
    const token = call.auth ? await accessToken() : null;
    let ans = await send(call, token, onSent);
    if (ans.status === 401 && call.auth && session && token !== null) {
      // Another call may have refreshed meanwhile: then just use its token.
      if (session.access !== token || (await refresh())) {
        ans = await send(call, session ? (session as Tokens).access : null, onSent);
      }
    }
    const body = interpret(ans, call.what) as T;
    if (onSent && reported < total) onSent(total);
    return body;
  }

  async function* listPages(filters: ListFilters = {}, opts: CallOptions = {}): AsyncGenerator<Page<Media>, void, undefined> {
    let page = filters.page ?? 1;
    for (;;) {
      const p = await client.list({ ...filters, page }, opts);
      yield p;
      if (!p.next || p.results.length === 0) return;
      page += 1;
    }
  }

  const client: MediaClient = {
    baseUrl,
    get session() {
      return session ? { ...session } : null;
    },
    list: async (filters = {}, opts = {}) =>
      request<Page<Media>>({ method: 'GET', path: `/api/media/${query(filters)}`, what: 'list', auth: true, signal: opts.signal }),
    listPages,
    async *listAll(filters = {}, opts = {}) {
      for await (const p of listPages(filters, opts)) yield* p.results;
    },
    get: async (id, opts = {}) => request<Media>({ method: 'GET', path: idPath(id), what: `get media ${id}`, auth: true, signal: opts.signal }),
    async upload(file, metadata = {}, opts = {}) {
      const named = namedFile(file, opts.filename ?? metadata.filename, opts.contentType);
      const { filename: _ignored, ...fields } = metadata;
      const mp = multipartUpload(named, fields);
      return request<Media>({
        method: 'POST',
        path: '/api/media/',
        what: 'upload',
        upload: { body: mp.body, contentType: mp.contentType, options: opts },
        auth: true,
        signal: opts.signal,
      });
    },
    update: async (id, fields, opts = {}) =>
      request<Media>({ method: 'PATCH', path: idPath(id), what: `update media ${id}`, json: fields, auth: true, signal: opts.signal }),
    async replace(id, file, opts = {}) {
      const named = namedFile(file, opts.filename, opts.contentType);
      return request<Media>({
        method: 'PUT',
        path: `${idPath(id)}file`,
        what: `replace media ${id}`,
        upload: {
          body: named.blob,
          contentType: named.contentType,
          headers: { 'content-disposition': attachmentDisposition(named.filename) },
          options: opts,
        },
        auth: true,
        signal: opts.signal,
      });
    },
    async remove(id, opts = {}) {
      const ans = await request<DeleteAnswer>({ method: 'DELETE', path: idPath(id), what: `delete media ${id}`, auth: true, signal: opts.signal });
      if (!ans.storage || typeof ans.storage.status !== 'string') {
        throw new MediaApiError(`delete media ${id}: no storage status in the answer`, { status: 200, code: 'invalid_response' });
      }
      return ans.storage;
    },
    async login(username, password, opts = {}) {
      const t = await request<Partial<Tokens>>({
        method: 'POST',
        path: '/api/token/',
        what: 'login',
        json: { username, password },
        auth: false,
        signal: opts.signal,
      });
      if (typeof t.access !== 'string' || typeof t.refresh !== 'string') {
        throw new MediaApiError('login: no access and refresh tokens in the answer', { status: 200, code: 'invalid_response' });
      }
      setSession({ access: t.access, refresh: t.refresh });
      return { access: t.access, refresh: t.refresh };
    },
    async logout(opts = {}) {
      const current = session;
      if (!current) return;
      try {
        await request<unknown>({ method: 'POST', path: '/api/token/revoke/', what: 'logout', json: { refresh: current.refresh }, auth: false, signal: opts.signal });
      } catch (e) {
        // A refresh token the server already refuses is as logged out as it gets.
        if (!(e instanceof MediaApiError && e.status === 401)) throw e;
      }
      if (session === current) setSession(null);
    },
    me: async (opts = {}) => request<User>({ method: 'GET', path: '/api/users/me/', what: 'me', auth: true, signal: opts.signal }),
    url: (media, transform) => mediaUrl(baseUrl, media, transform),
    signedUrl: (media, transform, key, signOptions) => signUrl(mediaUrl(baseUrl, media, transform), key, signOptions),
  };
  return client;
}
