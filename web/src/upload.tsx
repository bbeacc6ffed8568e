/**
 * Upload of many files: drop them on the zone or pick them; each gets a
 * progress bar and, when it fails, the server's reason. Three go at a time.
 */
import { useRef, useState } from 'preact/hooks';
import { formatSize, errorText } from './format';
import { client } from './session';

const PARALLEL = 3;

interface Item {
  key: number;
  file: File;
  loaded: number;
  total: number;
  status: 'queued' | 'uploading' | 'done' | 'error';
  message: string;
}

let nextKey = 1;

export function Uploader({ folder, onUploaded }: { folder: string; onUploaded: () => void }) {
  const [items, setItems] = useState<Item[]>([]);
  const [dragging, setDragging] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);
  const queue = useRef<Item[]>([]);
  const running = useRef(0);

  const patch = (key: number, p: Partial<Item>) =>
    setItems((list) => list.map((it) => (it.key === key ? { ...it, ...p } : it)));

  const pump = () => {
    while (running.current < PARALLEL && queue.current.length > 0) {
      const it = queue.current.shift() as Item;
      running.current++;
      patch(it.key, { status: 'uploading' });
      client
        .upload(it.file, folder ? { folder } : {}, {
          onProgress: (p) => patch(it.key, { loaded: p.loaded, total: p.total }),
        })
        .then(
          (m) => {
            patch(it.key, { status: 'done', message: `Uploaded as #${m.id}` });
            onUploaded();
          },
          (e: unknown) => patch(it.key, { status: 'error', message: errorText(e) }),
        )
        .finally(() => {
          running.current--;
          pump();
        });
    }
  };

  const add = (files: FileList | File[] | null) => {
    if (!files || files.length === 0) return;
    const fresh: Item[] = Array.from(files, (file) => ({
      key: nextKey++,
      file,
      loaded: 0,
      total: file.size,
      status: 'queued' as const,
      message: '',
    }));
    setItems((list) => [...fresh, ...list.filter((it) => it.status !== 'done')]);
    queue.current.push(...fresh);
    pump();
  };

  const failed = items.filter((it) => it.status === 'error').length;
  const active = items.filter((it) => it.status === 'queued' || it.status === 'uploading').length;

  return (
    <section class="upload" aria-labelledby="upload-title">
      <h2 id="upload-title" class="visually-hidden">
        Upload
      </h2>
      <div
        class={`dropzone${dragging ? ' dragging' : ''}`}
        onDragEnter={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragOver={(e) => {
          e.preventDefault();
          if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
        }}
        onDragLeave={(e) => {
          if (!(e.currentTarget as HTMLElement).contains(e.relatedTarget as Node | null)) setDragging(false);
        }}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          add(e.dataTransfer?.files ?? null);
        }}
      >
        <p>
          <strong>Drop files here</strong> or{' '}
          <button type="button" class="primary" onClick={() => inputRef.current?.click()}>
            Choose files…
          </button>
        </p>
        <p class="muted small">
          Images, PDF, audio, video and documents{folder ? `, into the folder “${folder}”` : ''}.
        </p>
        <input
          ref={inputRef}
          id="upload-input"
          class="visually-hidden"
          type="file"
          multiple
          tabIndex={-1}
          aria-label="Files to upload"
          onChange={(e) => {
            add(e.currentTarget.files);
            e.currentTarget.value = '';
          }}
        />
      </div>
      {items.length > 0 && (
        <div class="uploads">
          <div class="uploads-head">
            <p aria-live="polite" class="small">
              {active > 0
                ? `Uploading ${active} file${active === 1 ? '' : 's'}…`
                : failed > 0
                  ? `${failed} upload${failed === 1 ? '' : 's'} failed.`
                  : 'All uploads finished.'}
            </p>
            {active === 0 && (
              <button type="button" class="link" onClick={() => setItems([])}>
                Clear list
              </button>
            )}
          </div>
          <ul class="upload-list">
            {items.map((it) => (
              <li key={it.key} class={`upload-item ${it.status}`} data-status={it.status}>
                <span class="upload-name" title={it.file.name}>
                  {it.file.name}
                </span>
                <span class="upload-size muted small">{formatSize(it.file.size)}</span>
                <progress
                  max={it.total || 1}
                  value={it.status === 'done' ? it.total || 1 : it.loaded}
                  aria-label={`Upload of ${it.file.name}`}
                />
                <span class="upload-status small" role={it.status === 'error' ? 'alert' : undefined}>
                  {it.status === 'queued' && 'Waiting…'}
                  {it.status === 'uploading' && `${it.total ? Math.floor((100 * it.loaded) / it.total) : 0}%`}
                  {it.status === 'done' && `✓ ${it.message}`}
                  {it.status === 'error' && `Failed: ${it.message}`}
                </span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
