/**
 * medialib-client: a typed client for the medialib media server (shared/API.md).
 * No runtime dependencies; ES modules; browsers and Node 18+.
 */
export { createClient } from './client.js';
export type { ClientOptions, MediaClient, TokenSource } from './client.js';
export { configure, uploadMedia, updateMedia, deleteMedia } from './compat.js';
export type { CompatOptions } from './compat.js';
export { MediaApiError } from './errors.js';
export type { FieldErrors, MediaApiErrorInit } from './errors.js';
export { signUrl, signature, SIGNATURE_BYTES } from './sign.js';
export type { SigningKey, SignOptions } from './sign.js';
export { mediaUrl, transformSegment, canonicalTransform, parseTransform, BUILTIN_PRESETS, TRANSFORM_DIM_MAX } from './url.js';
export type { MediaRef, ParsedTransform } from './url.js';
export type { FetchLike } from './transport.js';
export type {
  CallOptions,
  DeleteAnswer,
  FileInput,
  ListFilters,
  Media,
  MediaFields,
  Ordering,
  Page,
  PresetTransform,
  Progress,
  ProgressHandler,
  Role,
  StorageStatus,
  Tokens,
  Transform,
  TransformParts,
  UploadMetadata,
  UploadOptions,
  User,
} from './types.js';
