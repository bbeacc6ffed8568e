/**
 * MediaApiError: the one error type every call of this client rejects with,
 * whether the server answered with its JSON error shape, something else
 * answered (a proxy's HTML page), the network failed or the caller aborted.
 */

/** Field name to message, as in `{"error": {"fields": {"title": "…"}}}`. */
export type FieldErrors = Record<string, string>;

/** What a MediaApiError carries besides its message. */
export interface MediaApiErrorInit {
  status: number;
  code: string;
  requestId?: string | null;
  fields?: FieldErrors | null;
  cause?: unknown;
}

/**
 * An error from the medialib API or from getting to it.
 *
 * - `status`: the HTTP status, or 0 when no answer arrived (network error, abort).
 * - `code`: the API's code (`not_found`, `validation_failed`, `unauthorized`, …), or
 *   one of the client's own: `network_error`, `aborted`, `timeout` (status 0) and
 *   `invalid_response` (a 2xx answer that is not the JSON the API promises). An
 *   error answer that is not JSON gets the code the API uses for its status.
 * - `requestId`: the server's request id (quote it when reporting a problem).
 * - `fields`: per-field messages of a `validation_failed` answer, otherwise null.
 *
 * An aborted call's error has `name === 'AbortError'`, like fetch's own, so code that
 * tests for that keeps working; it is still `instanceof MediaApiError`.
 */
export class MediaApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;
  readonly fields: FieldErrors | null;

  constructor(message: string, init: MediaApiErrorInit) {
    super(message);
    this.name = init.code === 'aborted' ? 'AbortError' : 'MediaApiError';
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId ?? null;
    this.fields = init.fields ?? null;
    if (init.cause !== undefined) Object.defineProperty(this, 'cause', { value: init.cause, configurable: true, writable: true });
  }
}

/** The API's error code for an HTTP status, for error answers that are not JSON. */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  410: 'gone',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  416: 'range_not_satisfiable',
  429: 'rate_limited',
  503: 'storage_unavailable',
};

/** The code for a status that came without the API's JSON error body. */
export function codeForStatus(status: number): string {
  return CODE_BY_STATUS[status] ?? (status >= 500 ? 'internal' : 'bad_request');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The `fields` object of an error body, keeping only string messages. */
function fieldsOf(v: unknown): FieldErrors | null {
  if (!isRecord(v)) return null;
  const out: FieldErrors = {};
  for (const [k, msg] of Object.entries(v)) out[k] = typeof msg === 'string' ? msg : JSON.stringify(msg);
  return out;
}

/**
 * The error for a non-2xx answer: from the API's `{"error": {…}}` body when there is
 * one, from the status otherwise. `body` is the parsed JSON (undefined if it was not
 * JSON) and `text` the raw body, quoted in the message when it is not JSON.
 */
export function errorFromAnswer(status: number, body: unknown, text: string, headerRequestId: string | null): MediaApiError {
  const e = isRecord(body) && isRecord(body.error) ? body.error : null;
  if (e && typeof e.code === 'string') {
    return new MediaApiError(typeof e.message === 'string' && e.message ? e.message : `HTTP ${status}`, {
      status,
      code: e.code,
      requestId: typeof e.request_id === 'string' ? e.request_id : headerRequestId,
      fields: fieldsOf(e.fields),
    });
  }
  const snippet = text.trim().slice(0, 200);
  return new MediaApiError(`HTTP ${status} without the API's JSON error${snippet ? `: ${snippet}` : ''}`, {
    status,
    code: codeForStatus(status),
    requestId: headerRequestId,
  });
}

/** True when the signal's reason is a timeout (AbortSignal.timeout()). */
function isTimeout(signal: AbortSignal | undefined): boolean {
  const reason: unknown = signal?.reason;
  return isRecord(reason) ? reason.name === 'TimeoutError' : false;
}

/**
 * The error for a request that got no answer: `aborted` or `timeout` when the
 * caller's signal fired, `network_error` otherwise. A MediaApiError passes through.
 */
export function errorFromFailure(cause: unknown, signal: AbortSignal | undefined, what: string): MediaApiError {
  if (cause instanceof MediaApiError) return cause;
  if (signal?.aborted) {
    const timeout = isTimeout(signal);
    return new MediaApiError(`${what} ${timeout ? 'timed out' : 'was aborted'}`, {
      status: 0,
      code: timeout ? 'timeout' : 'aborted',
      cause: signal.reason ?? cause,
    });
  }
  const detail = cause instanceof Error ? describeCause(cause) : String(cause);
  return new MediaApiError(`${what} failed: ${detail}`, { status: 0, code: 'network_error', cause });
}

/** "fetch failed (ECONNREFUSED)": Node hides the useful part in `cause`. */
function describeCause(e: Error): string {
  const inner: unknown = (e as { cause?: unknown }).cause;
  const code = isRecord(inner) && typeof inner.code === 'string' ? inner.code : null;
  return code ? `${e.message} (${code})` : e.message;
}
