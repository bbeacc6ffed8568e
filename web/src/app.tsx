/**
 * The admin UI: a login form, then the library (filters, upload, grid, detail).
 * All calls go through the medialib client (clients/js); see session.ts.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { MediaApiError, type Media, type Page, type User } from '../../clients/js/src/index';
import { Detail } from './detail';
import { displayTitle, errorText, isImage, typeLabel } from './format';
import { client, forgetStoredSession, onSessionChange } from './session';
import { Uploader } from './upload';

const PAGE_SIZE = 24;

/** A message shown at the top of the library, announced to screen readers. */
export interface Notice {
  kind: 'ok' | 'warn' | 'error';
  text: string;
}

export function App() {
  const [loggedIn, setLoggedIn] = useState(client.session !== null);
  const [ended, setEnded] = useState(false);

  useEffect(
    () =>
      onSessionChange((yes) => {
        // A session that ends by itself (refresh refused) says so on the login form.
        if (!yes) setEnded(true);
        setLoggedIn(yes);
      }),
    [],
  );

  if (!loggedIn) return <Login ended={ended} onLoggedIn={() => setEnded(false)} />;
  return <Library onLogout={() => setEnded(false)} />;
}

function Login({ ended, onLoggedIn }: { ended: boolean; onLoggedIn: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const userRef = useRef<HTMLInputElement>(null);

  useEffect(() => userRef.current?.focus(), []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await client.login(username.trim(), password);
      onLoggedIn();
    } catch (err) {
      if (err instanceof MediaApiError && err.status === 401) setError('Wrong username or password.');
      else if (err instanceof MediaApiError && err.code === 'rate_limited') setError('Too many failed logins: wait a minute and try again.');
      else setError(`Could not log in: ${errorText(err)}`);
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="login-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">medialib</h1>
        <p class="muted">Log in to manage the media library.</p>
        {ended && !error && (
          <p class="notice warn" role="status">
            Your session ended. Log in again.
          </p>
        )}
        <label for="login-user">Username</label>
        <input
          id="login-user"
          ref={userRef}
          name="username"
          autocomplete="username"
          required
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
        />
        <label for="login-password">Password</label>
        <input
          id="login-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        {error && (
          <p class="notice error" role="alert" id="login-error">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}

interface Filters {
  q: string;
  type: string;
  folder: string;
  tag: string;
}

const TYPES: Array<[string, string]> = [
  ['', 'All types'],
  ['image/*', 'Images'],
  ['video/*', 'Video'],
  ['audio/*', 'Audio'],
  ['application/pdf', 'PDF'],
];

/** Keeps a value only after it has stopped changing for `ms`. */
function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

function Library({ onLogout }: { onLogout: () => void }) {
  const [user, setUser] = useState<User | null>(null);
  const [filters, setFilters] = useState<Filters>({ q: '', type: '', folder: '', tag: '' });
  const debounced = useDebounced(filters, 250);
  const [page, setPage] = useState(1);
  const [data, setData] = useState<Page<Media> | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [reload, setReload] = useState(0);
  const [selected, setSelected] = useState<Media | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const gridRef = useRef<HTMLUListElement>(null);

  useEffect(() => {
    const ac = new AbortController();
    client.me({ signal: ac.signal }).then(setUser, () => {});
    return () => ac.abort();
  }, []);

  useEffect(() => setPage(1), [debounced]);

  useEffect(() => {
    const ac = new AbortController();
    setLoading(true);
    client
      .list(
        {
          page,
          page_size: PAGE_SIZE,
          ordering: '-created_at',
          q: debounced.q.trim(),
          mime: debounced.type,
          folder: debounced.folder.trim(),
          tag: debounced.tag.trim(),
        },
        { signal: ac.signal },
      )
      .then(
        (p) => {
          setData(p);
          setLoadError(null);
          setLoading(false);
        },
        (e: unknown) => {
          if (e instanceof MediaApiError && (e.code === 'aborted' || e.code === 'timeout')) return;
          // A page past the end (after deletes): go back to the first one.
          if (e instanceof MediaApiError && e.status === 404 && page > 1) {
            setPage(1);
            return;
          }
          setLoadError(errorText(e));
          setLoading(false);
        },
      );
    return () => ac.abort();
  }, [page, debounced, reload]);

  const canEdit = user === null || user.role !== 'viewer';
  const refresh = useCallback(() => setReload((n) => n + 1), []);

  /** A media changed (edit, replace): every place that shows it shows the new one. */
  const changed = useCallback((m: Media) => {
    setData((d) => (d ? { ...d, results: d.results.map((x) => (x.id === m.id ? m : x)) } : d));
    setSelected((s) => (s && s.id === m.id ? m : s));
  }, []);

  const deleted = useCallback(
    (m: Media, storage: { status: string; attempts: number; last_error?: string }) => {
      setSelected(null);
      setData((d) => (d ? { ...d, count: d.count - 1, results: d.results.filter((x) => x.id !== m.id) } : d));
      if (storage.status === 'deleted') {
        setNotice({ kind: 'ok', text: `Deleted “${displayTitle(m)}”. Storage is clean: the file and all its sizes are gone.` });
      } else {
        setNotice({
          kind: 'warn',
          text:
            `Deleted “${displayTitle(m)}”, but removing its files from storage is pending ` +
            `(${storage.attempts} attempt${storage.attempts === 1 ? '' : 's'}` +
            `${storage.last_error ? `; last error: ${storage.last_error}` : ''}). The server keeps retrying.`,
        });
      }
      refresh();
    },
    [refresh],
  );

  const logout = async () => {
    forgetStoredSession();
    try {
      await client.logout();
    } catch {
      // the server could not revoke: the tokens are forgotten here anyway
    }
    onLogout();
  };

  const set = (k: keyof Filters) => (e: Event) => {
    const v = (e.currentTarget as HTMLInputElement | HTMLSelectElement).value;
    setFilters((f) => ({ ...f, [k]: v }));
  };

  const pages = data ? Math.max(1, Math.ceil(data.count / PAGE_SIZE)) : 1;
  const filtered = Boolean(filters.q || filters.type || filters.folder || filters.tag);

  const goto = (p: number) => {
    setPage(p);
    gridRef.current?.scrollIntoView({ block: 'start' });
  };

  return (
    <>
      <header class="topbar">
        <h1>medialib</h1>
        <div class="who">
          {user && (
            <span class="muted">
              {user.username} · {user.role}
            </span>
          )}
          <button type="button" onClick={logout}>
            Log out
          </button>
        </div>
      </header>
      <main class="library">
        {notice && (
          <div class={`notice ${notice.kind}`} role={notice.kind === 'error' ? 'alert' : 'status'} id="notice">
            <span>{notice.text}</span>
            <button type="button" class="link" onClick={() => setNotice(null)} aria-label="Dismiss message">
              ✕
            </button>
          </div>
        )}
        {canEdit && <Uploader folder={filters.folder.trim()} onUploaded={refresh} />}

        <form class="filters" role="search" aria-label="Search and filter media" onSubmit={(e) => e.preventDefault()}>
          <div class="field grow">
            <label for="f-q">Search</label>
            <input id="f-q" type="search" placeholder="Title, alt text, caption, file name" value={filters.q} onInput={set('q')} />
          </div>
          <div class="field">
            <label for="f-type">Type</label>
            <select id="f-type" value={filters.type} onChange={set('type')}>
              {TYPES.map(([v, label]) => (
                <option key={v} value={v}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="f-folder">Folder</label>
            <input id="f-folder" placeholder="e.g. tours/varanasi" value={filters.folder} onInput={set('folder')} />
          </div>
          <div class="field">
            <label for="f-tag">Tag</label>
            <input id="f-tag" placeholder="e.g. sunset" value={filters.tag} onInput={set('tag')} />
          </div>
        </form>

        <section aria-labelledby="grid-title" class="results">
          <div class="results-head">
            <h2 id="grid-title">Media</h2>
            <p class="muted" aria-live="polite" id="count">
              {loading && !data ? 'Loading…' : data ? `${data.count} file${data.count === 1 ? '' : 's'}` : ''}
            </p>
          </div>
          {loadError && (
            <p class="notice error" role="alert">
              Could not load the media: {loadError}{' '}
              <button type="button" onClick={refresh}>
                Retry
              </button>
            </p>
          )}
          {data && data.results.length === 0 && !loading && (
            <p class="empty">{filtered ? 'Nothing matches these filters.' : 'No media yet. Upload files to start.'}</p>
          )}
          <ul class="grid" ref={gridRef} aria-busy={loading}>
            {data?.results.map((m) => (
              <li key={m.id}>
                <Card media={m} onOpen={() => setSelected(m)} />
              </li>
            ))}
          </ul>
          {data && pages > 1 && (
            <nav class="pager" aria-label="Pages">
              <button type="button" disabled={page <= 1} onClick={() => goto(page - 1)}>
                ← Previous
              </button>
              <span aria-current="page">
                Page {page} of {pages}
              </span>
              <button type="button" disabled={page >= pages} onClick={() => goto(page + 1)}>
                Next →
              </button>
            </nav>
          )}
        </section>
      </main>
      {selected && (
        <Detail
          media={selected}
          canEdit={canEdit}
          onClose={() => setSelected(null)}
          onChanged={changed}
          onDeleted={deleted}
        />
      )}
    </>
  );
}

function Card({ media, onOpen }: { media: Media; onOpen: () => void }) {
  const thumb = media.variants['thumbnail'];
  const noAlt = isImage(media) && !media.alt_text.trim();
  return (
    <button type="button" class="card" onClick={onOpen} data-id={media.id} aria-label={`${displayTitle(media)}: edit details`}>
      <span class="thumb">
        {thumb ? (
          <img src={thumb} alt={media.alt_text} width={200} height={200} loading="lazy" decoding="async" />
        ) : (
          <span class="filetype" aria-hidden="true">
            {typeLabel(media)}
          </span>
        )}
      </span>
      <span class="card-title">{displayTitle(media)}</span>
      <span class="card-meta">
        {typeLabel(media)}
        {media.folder ? ` · ${media.folder}` : ''}
        {noAlt && <span class="badge warn">No alt text</span>}
      </span>
    </button>
  );
}
