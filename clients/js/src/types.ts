/** The shapes of the medialib HTTP contract (shared/API.md), as the server sends them. */

/** One media, as GET /api/media/{id}/ answers it. */
export interface Media {
  id: number;
  title: string;
  alt_text: string;
  caption: string;
  folder: string;
  tags: string[];
  filename: string;
  mime_type: string;
  size: number;
  width: number | null;
  height: number | null;
  sha256: string;
  /** Starts at 1 and grows by one on every file replacement, never on a metadata edit. */
  version: number;
  /** The versioned file URL: `…/media/{id}/v{version}/{filename}`. */
  url: string;
  variants: Record<string, string>;
  created_at: string;
  updated_at: string;
}

/** A page of a list, shaped like Django REST Framework's page-number pagination. */
export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

/** The orderings GET /api/media/ accepts. */
export type Ordering =
  | 'created_at'
  | '-created_at'
  | 'title'
  | '-title'
  | 'size'
  | '-size'
  | 'updated_at'
  | '-updated_at';

/** Filters of GET /api/media/, named as the API names them. */
export interface ListFilters {
  /** 1-based; a page past the last is a 404 `not_found` (as in Django REST Framework). */
  page?: number;
  /** 1 to 100; the server's default is 20. */
  page_size?: number;
  /** Searches title, alt text, caption and filename. */
  q?: string;
  /** A MIME type, or a family such as `image/*`. */
  mime?: string;
  folder?: string;
  tag?: string;
  ordering?: Ordering;
}

/** Metadata that can be edited with PATCH /api/media/{id}/. */
export interface MediaFields {
  title?: string;
  alt_text?: string;
  caption?: string;
  folder?: string;
  tags?: string[];
  filename?: string;
}

/** Metadata sent with an upload; `tags` may also be one comma-separated string. */
export interface UploadMetadata extends Omit<MediaFields, 'tags'> {
  tags?: string[] | string;
}

/** What DELETE /api/media/{id}/ says about the stored files. */
export interface StorageStatus {
  /** "deleted": gone from storage; "pending": queued, the server keeps retrying. */
  status: 'deleted' | 'pending';
  attempts: number;
  last_error?: string;
}

/** The whole DELETE /api/media/{id}/ answer. */
export interface DeleteAnswer {
  id: number;
  deleted: true;
  storage: StorageStatus;
}

/** POST /api/token/ answer. */
export interface Tokens {
  access: string;
  refresh: string;
}

export type Role = 'viewer' | 'editor' | 'admin';

/** A user, as /api/users/ sends it (never its password). */
export interface User {
  id: number;
  username: string;
  role: Role;
  disabled: boolean;
  created_at: string;
  last_login_at: string | null;
}

/** Upload progress: bytes of the request body sent so far, of `total`. */
export interface Progress {
  loaded: number;
  total: number;
}

export type ProgressHandler = (progress: Progress) => void;

/** Options every call accepts. */
export interface CallOptions {
  /** Aborts the call; it then rejects with a MediaApiError of code `aborted`. */
  signal?: AbortSignal;
}

/** Options of upload() and replace(). */
export interface UploadOptions extends CallOptions {
  /** Called as the body goes out; `loaded` never decreases and ends at `total`. */
  onProgress?: ProgressHandler;
  /** The filename, when `file` is not a File (or to send another name). */
  filename?: string;
  /** The Content-Type sent for the file (the server sniffs the type anyway). */
  contentType?: string;
}

/** A file to send: a Blob or File (browser), or bytes (a Node Buffer is a Uint8Array). */
export type FileInput = Blob | ArrayBuffer | Uint8Array;

/** The free-form parts of a transform (`w_`, `h_`, `c_`, `f_`, `q_`). */
export interface TransformParts {
  /** 1 to 8192 pixels. */
  width?: number;
  /** 1 to 8192 pixels. */
  height?: number;
  /** `fit` (the default: within the box), `fill` (cover the box and crop; needs width and height), `limit`. */
  crop?: 'fit' | 'fill' | 'limit';
  /** The output format; `auto` picks AVIF or WebP from the browser's Accept. Default: the source's. */
  format?: 'jpeg' | 'png' | 'webp' | 'avif' | 'auto';
  /** 1 to 100. */
  quality?: number;
}

/** A named preset: `thumbnail` (200x200 fill), `small` (480 wide), `medium` (960), `large` (1920), or one the server adds. */
export interface PresetTransform {
  preset: string;
}

/**
 * A transform of an image URL: a segment as the server reads it (`t_thumbnail`,
 * `w_480,f_webp`), a preset, or free-form parts. Free-form transforms are refused by
 * the server (403) unless it allows them or the URL is signed (signUrl()).
 */
export type Transform = string | PresetTransform | TransformParts;
