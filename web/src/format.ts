import type { Media } from '../../clients/js/src/index';

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export const isImage = (m: Media): boolean => m.mime_type.startsWith('image/');

/** The short label of a file type: "PNG", "PDF", "MP4". */
export function typeLabel(m: Media): string {
  const sub = m.mime_type.split('/')[1] ?? '';
  if (sub === 'jpeg') return 'JPEG';
  if (sub === 'svg+xml') return 'SVG';
  const ext = m.filename.includes('.') ? m.filename.split('.').pop() ?? '' : '';
  return (sub.length <= 5 ? sub : ext || sub.slice(0, 5)).toUpperCase();
}

export const displayTitle = (m: Media): string => m.title || m.filename;

export function formatDate(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** The message of any failure, for a person. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** "a, b ,c" -> ["a", "b", "c"], without empties and duplicates. */
export function parseTags(s: string): string[] {
  const out: string[] = [];
  for (const t of s.split(',')) {
    const v = t.trim();
    if (v && !out.includes(v)) out.push(v);
  }
  return out;
}
