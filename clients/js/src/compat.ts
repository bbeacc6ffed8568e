/**
 * The seed system's function names, as thin wrappers for code migrating from it:
 *
 *   configure({ baseUrl: 'https://media.example.com' });   // once, at start
 *   const media = await uploadMedia(file, { title: 'Sunset', tags: ['sunset'] }, token);
 *   await updateMedia(media.id, { alt_text: 'Orange sky' }, token);
 *   await deleteMedia(media.id, token);                    // -> { status: 'deleted', … }
 *
 * The old functions knew their server; these need its base URL, from configure() or,
 * per call, from the last argument (`{ baseUrl }`, which wins). They behave like
 * createClient()'s upload(), update() and remove(): same answers, same MediaApiError.
 * New code should use createClient().
 */
import { createClient, type MediaClient } from './client.js';
import type { FetchLike } from './transport.js';
import type { FileInput, Media, MediaFields, StorageStatus, UploadMetadata, UploadOptions } from './types.js';

/** Where the wrappers send their requests. */
export interface CompatOptions {
  baseUrl?: string;
  fetch?: FetchLike;
}

let defaults: CompatOptions = {};

/** Sets the base URL (and optionally the fetch) of uploadMedia, updateMedia and deleteMedia. */
export function configure(options: CompatOptions): void {
  defaults = { ...defaults, ...options };
}

function clientFor(token: string | null | undefined, options: CompatOptions | undefined): MediaClient {
  const baseUrl = options?.baseUrl ?? defaults.baseUrl;
  if (!baseUrl) throw new TypeError('medialib-client: call configure({ baseUrl }) first, or pass { baseUrl } as the last argument');
  const f = options?.fetch ?? defaults.fetch;
  return createClient({ baseUrl, ...(token ? { token } : {}), ...(f ? { fetch: f } : {}) });
}

/** POST /api/media/ with `metadata`; answers the new media. */
export async function uploadMedia(
  file: FileInput,
  metadata: UploadMetadata = {},
  token?: string | null,
  options?: CompatOptions & UploadOptions,
): Promise<Media> {
  const { baseUrl: _b, fetch: _f, ...uploadOptions } = options ?? {};
  return clientFor(token, options).upload(file, metadata, uploadOptions);
}

/** PATCH /api/media/{mediaId}/ with `data`; answers the edited media. */
export async function updateMedia(mediaId: number, data: MediaFields, token?: string | null, options?: CompatOptions): Promise<Media> {
  return clientFor(token, options).update(mediaId, data);
}

/** DELETE /api/media/{mediaId}/; answers the storage status (`{status: 'deleted' | 'pending', attempts, last_error?}`). */
export async function deleteMedia(mediaId: number, token?: string | null, options?: CompatOptions): Promise<StorageStatus> {
  return clientFor(token, options).remove(mediaId);
}
