/**
 * The detail panel of one media (a modal <dialog>: focus stays inside, Escape
 * closes it): edit title, alt text, caption, folder and tags; copy the URL;
 * replace the file; delete with a confirmation.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { MediaApiError, type Media, type StorageStatus } from '../../clients/js/src/index';
import { displayTitle, errorText, formatDate, formatSize, isImage, parseTags, typeLabel } from './format';
import { client } from './session';

interface Props {
  media: Media;
  canEdit: boolean;
  onClose: () => void;
  onChanged: (m: Media) => void;
  onDeleted: (m: Media, storage: StorageStatus) => void;
}

type Status = { kind: 'ok' | 'error' | 'busy'; text: string } | null;

export function Detail({ media, canEdit, onClose, onChanged, onDeleted }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const [title, setTitle] = useState(media.title);
  const [alt, setAlt] = useState(media.alt_text);
  const [caption, setCaption] = useState(media.caption);
  const [folder, setFolder] = useState(media.folder);
  const [tags, setTags] = useState(media.tags.join(', '));
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [saveStatus, setSaveStatus] = useState<Status>(null);
  const [copyStatus, setCopyStatus] = useState<Status>(null);
  const [replace, setReplace] = useState<{ loaded: number; total: number } | null>(null);
  const [replaceStatus, setReplaceStatus] = useState<Status>(null);
  const [confirming, setConfirming] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [deleteError, setDeleteError] = useState<string | null>(null);

  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);

  // Another media opened in the same panel: start from its values.
  useEffect(() => {
    setTitle(media.title);
    setAlt(media.alt_text);
    setCaption(media.caption);
    setFolder(media.folder);
    setTags(media.tags.join(', '));
    setFieldErrors({});
    setSaveStatus(null);
    setConfirming(false);
  }, [media.id]);

  // The button pressed goes away with the confirmation's state: move the focus to
  // the safe choice (Cancel), and back to "Delete…" when cancelled.
  const deleteRef = useRef<HTMLButtonElement>(null);
  const wasConfirming = useRef(false);
  useLayoutEffect(() => {
    if (confirming) cancelRef.current?.focus();
    else if (wasConfirming.current) deleteRef.current?.focus();
    wasConfirming.current = confirming;
  }, [confirming]);

  const image = isImage(media);
  const preview = media.variants['medium'] ?? (image ? media.url : undefined);
  const dirty =
    title !== media.title ||
    alt !== media.alt_text ||
    caption !== media.caption ||
    folder !== media.folder ||
    parseTags(tags).join(',') !== media.tags.join(',');

  const save = async (e: Event) => {
    e.preventDefault();
    setSaveStatus({ kind: 'busy', text: 'Saving…' });
    setFieldErrors({});
    try {
      const m = await client.update(media.id, {
        title: title.trim(),
        alt_text: alt.trim(),
        caption: caption.trim(),
        folder: folder.trim(),
        tags: parseTags(tags),
      });
      onChanged(m);
      setTitle(m.title);
      setAlt(m.alt_text);
      setCaption(m.caption);
      setFolder(m.folder);
      setTags(m.tags.join(', '));
      setSaveStatus({ kind: 'ok', text: 'Saved.' });
    } catch (err) {
      if (err instanceof MediaApiError && err.fields) setFieldErrors(err.fields);
      setSaveStatus({ kind: 'error', text: `Not saved: ${errorText(err)}` });
    }
  };

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(media.url);
      setCopyStatus({ kind: 'ok', text: 'URL copied.' });
    } catch {
      // No clipboard permission: select the URL so Ctrl+C copies it.
      const input = document.getElementById('d-url') as HTMLInputElement | null;
      input?.focus();
      input?.select();
      setCopyStatus({ kind: 'error', text: 'Could not copy: the URL is selected, press Ctrl+C.' });
    }
  };

  const replaceFile = async (file: File | undefined) => {
    if (!file) return;
    setReplace({ loaded: 0, total: file.size });
    setReplaceStatus({ kind: 'busy', text: `Uploading ${file.name}…` });
    try {
      const m = await client.replace(media.id, file, { onProgress: (p) => setReplace({ loaded: p.loaded, total: p.total }) });
      onChanged(m);
      setReplaceStatus({ kind: 'ok', text: `Replaced: now version ${m.version}.` });
    } catch (err) {
      setReplaceStatus({ kind: 'error', text: `Not replaced: ${errorText(err)}` });
    } finally {
      setReplace(null);
    }
  };

  const remove = async () => {
    setDeleting(true);
    setDeleteError(null);
    try {
      const storage = await client.remove(media.id);
      ref.current?.close();
      onDeleted(media, storage);
    } catch (err) {
      setDeleteError(errorText(err));
      setDeleting(false);
    }
  };

  const err = (name: string) =>
    fieldErrors[name] ? (
      <p class="field-error" id={`d-${name}-error`}>
        {fieldErrors[name]}
      </p>
    ) : null;
  const describedBy = (name: string, extra?: string) =>
    [fieldErrors[name] ? `d-${name}-error` : '', extra ?? ''].filter(Boolean).join(' ') || undefined;

  return (
    <dialog ref={ref} class="detail" aria-labelledby="d-heading" onClose={onClose}>
      <div class="detail-head">
        <h2 id="d-heading">{displayTitle(media)}</h2>
        <button type="button" class="icon" aria-label="Close" onClick={() => ref.current?.close()}>
          ✕
        </button>
      </div>
      <div class="detail-body">
        <figure class="preview">
          {preview ? (
            <img src={preview} alt={media.alt_text} id="d-preview" />
          ) : (
            <span class="filetype big" aria-hidden="true">
              {typeLabel(media)}
            </span>
          )}
          <figcaption class="muted small">
            {media.filename} · {typeLabel(media)} · {formatSize(media.size)}
            {media.width && media.height ? ` · ${media.width}×${media.height}` : ''} · version {media.version}
            <br />
            Updated {formatDate(media.updated_at)}
          </figcaption>
        </figure>

        <div class="field">
          <label for="d-url">File URL</label>
          <div class="row">
            <input id="d-url" readOnly value={media.url} onFocus={(e) => e.currentTarget.select()} />
            <button type="button" onClick={copy}>
              Copy URL
            </button>
          </div>
          {copyStatus && (
            <p class={`small ${copyStatus.kind}`} role="status">
              {copyStatus.text}
            </p>
          )}
        </div>

        <form onSubmit={save} class="meta" aria-label="Details">
          <div class="field">
            <label for="d-title">Title</label>
            <input id="d-title" value={title} disabled={!canEdit} aria-describedby={describedBy('title')} onInput={(e) => setTitle(e.currentTarget.value)} />
            {err('title')}
          </div>
          <div class="field">
            <label for="d-alt">Alt text</label>
            <textarea
              id="d-alt"
              rows={2}
              value={alt}
              disabled={!canEdit}
              aria-describedby={describedBy('alt_text', image && !alt.trim() ? 'd-alt-warning' : 'd-alt-hint')}
              onInput={(e) => setAlt(e.currentTarget.value)}
            />
            {image && !alt.trim() ? (
              <p class="warning small" id="d-alt-warning">
                ⚠ This image has no alt text: people who use a screen reader will not know what it shows.
              </p>
            ) : (
              <p class="muted small" id="d-alt-hint">
                Describe what the image shows, for people who cannot see it.
              </p>
            )}
            {err('alt_text')}
          </div>
          <div class="field">
            <label for="d-caption">Caption</label>
            <textarea id="d-caption" rows={2} value={caption} disabled={!canEdit} aria-describedby={describedBy('caption')} onInput={(e) => setCaption(e.currentTarget.value)} />
            {err('caption')}
          </div>
          <div class="field">
            <label for="d-folder">Folder</label>
            <input id="d-folder" value={folder} disabled={!canEdit} placeholder="e.g. tours/varanasi" aria-describedby={describedBy('folder')} onInput={(e) => setFolder(e.currentTarget.value)} />
            {err('folder')}
          </div>
          <div class="field">
            <label for="d-tags">Tags</label>
            <input id="d-tags" value={tags} disabled={!canEdit} aria-describedby={describedBy('tags', 'd-tags-hint')} onInput={(e) => setTags(e.currentTarget.value)} />
            <p class="muted small" id="d-tags-hint">
              Separate tags with commas.
            </p>
            {err('tags')}
          </div>
          {canEdit && (
            <div class="row actions">
              <button type="submit" class="primary" disabled={saveStatus?.kind === 'busy' || !dirty}>
                Save changes
              </button>
              {saveStatus && (
                <span class={`small ${saveStatus.kind}`} role={saveStatus.kind === 'error' ? 'alert' : 'status'} id="d-save-status">
                  {saveStatus.text}
                </span>
              )}
            </div>
          )}
        </form>

        {canEdit && (
          <div class="danger-zone">
            <h3>File</h3>
            <div class="row">
              <button type="button" onClick={() => fileRef.current?.click()} disabled={replace !== null}>
                Replace file…
              </button>
              <input
                ref={fileRef}
                id="d-replace-input"
                class="visually-hidden"
                type="file"
                tabIndex={-1}
                aria-label="New file for this media"
                onChange={(e) => {
                  void replaceFile(e.currentTarget.files?.[0]);
                  e.currentTarget.value = '';
                }}
              />
              {!confirming && (
                <button type="button" class="danger" ref={deleteRef} onClick={() => setConfirming(true)}>
                  Delete…
                </button>
              )}
            </div>
            {replace && <progress max={replace.total || 1} value={replace.loaded} aria-label="Upload of the new file" />}
            {replaceStatus && (
              <p class={`small ${replaceStatus.kind}`} role={replaceStatus.kind === 'error' ? 'alert' : 'status'} id="d-replace-status">
                {replaceStatus.text}
              </p>
            )}
            {confirming && (
              <div class="confirm" role="group" aria-labelledby="d-confirm-text">
                <p id="d-confirm-text">
                  Delete “{displayTitle(media)}”? Its file and every size of it are removed from storage and its URLs stop working. This
                  cannot be undone.
                </p>
                <div class="row">
                  <button type="button" class="danger" onClick={remove} disabled={deleting}>
                    {deleting ? 'Deleting…' : 'Delete permanently'}
                  </button>
                  <button type="button" ref={cancelRef} onClick={() => setConfirming(false)} disabled={deleting}>
                    Cancel
                  </button>
                </div>
                {deleteError && (
                  <p class="small error" role="alert">
                    Not deleted: {deleteError}
                  </p>
                )}
              </div>
            )}
          </div>
        )}
      </div>
    </dialog>
  );
}
