/**
 * metadata — what a Sugar Journal entry says about itself.
 *
 * Layout 6 keeps one file per property (`<uid[:2]>/<uid>/metadata/<key>`, raw
 * UTF-8 bytes); layout 0 keeps one JSON object of strings
 * (`store/<uid>.metadata`). Both are turned into the same EntryInfo, the
 * fields the catalog and the restore pages show. Parsing never throws: a
 * property that cannot be read is left empty and noted in `problems`, so a
 * Journal with damaged metadata still backs up and still lists.
 */

export const UID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Is this a layout-6 entry folder name (36 characters, found under its 2-char prefix)? */
export function isEntryFolder(prefix: string, name: string): boolean {
  return name.length === 36 && prefix.length === 2 && name.startsWith(prefix);
}

/** The properties the catalog reads; everything else is kept but not indexed. */
export const INDEXED_KEYS = [
  'title',
  'activity',
  'mime_type',
  'timestamp',
  'keep',
  'creation_time',
  'mtime',
  'title_set_by_user',
  'icon-color',
  'tags',
  'description',
] as const;

export interface EntryInfo {
  uid: string;
  title: string;
  activity: string;
  mimeType: string;
  /** Seconds since the epoch, or null when missing or not a number. */
  timestamp: number | null;
  keep: boolean;
  iconColor: string;
  tags: string;
  description: string;
  problems: string[];
}

const MAX_TEXT = 64 * 1024;

function text(v: Buffer | string | undefined, key: string, problems: string[]): string {
  if (v === undefined) return '';
  const s = typeof v === 'string' ? v : v.subarray(0, MAX_TEXT).toString('utf8');
  if (s.includes('\uFFFD')) problems.push(`${key}: not valid UTF-8`);
  return s;
}

function integer(s: string): number | null {
  const t = s.trim();
  if (!/^-?\d+(\.\d+)?$/.test(t)) return null;
  const n = Math.trunc(Number(t));
  return Number.isSafeInteger(n) ? n : null;
}

/** Builds an EntryInfo from raw property values (layout 6 files or layout 0 JSON strings). */
export function entryInfo(uid: string, props: Record<string, Buffer | string | undefined>): EntryInfo {
  const problems: string[] = [];
  const ts = text(props.timestamp, 'timestamp', problems);
  let timestamp = integer(ts);
  if (timestamp === null) {
    const mt = text(props.mtime, 'mtime', problems);
    const parsed = Date.parse(mt.endsWith('Z') || mt === '' ? mt : `${mt}Z`);
    timestamp = Number.isFinite(parsed) ? Math.floor(parsed / 1000) : null;
    if (props.timestamp !== undefined) problems.push('timestamp: not a number');
  }
  return {
    uid,
    title: text(props.title, 'title', problems),
    activity: text(props.activity, 'activity', problems),
    mimeType: text(props.mime_type, 'mime_type', problems),
    timestamp,
    keep: text(props.keep, 'keep', problems).trim() === '1',
    iconColor: text(props['icon-color'], 'icon-color', problems),
    tags: text(props.tags, 'tags', problems),
    description: text(props.description, 'description', problems),
    problems,
  };
}

/** Parses a layout-0 `store/<uid>.metadata` JSON object; never throws. */
export function layout0Props(json: Buffer): { props: Record<string, string>; problems: string[] } {
  try {
    const obj = JSON.parse(json.toString('utf8')) as unknown;
    if (!obj || typeof obj !== 'object' || Array.isArray(obj))
      return { props: {}, problems: ['metadata is not a JSON object'] };
    const props: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
      if (typeof v === 'string') props[k] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') props[k] = String(v);
    }
    return { props, problems: [] };
  } catch {
    // JSON.parse throws only SyntaxError: reported as the entry's problem, the entry is still backed up.
    return { props: {}, problems: ['metadata is not valid JSON'] };
  }
}

/** Preview bytes as PNG: base64 text is decoded (bytes 1–3 are not "PNG"). */
export function decodePreview(raw: Buffer): Buffer {
  if (raw.length >= 4 && raw.toString('latin1', 1, 4) === 'PNG') return raw;
  const s = raw.toString('latin1').trim();
  if (s.length > 0 && /^[A-Za-z0-9+/=\s]+$/.test(s)) {
    const dec = Buffer.from(s, 'base64');
    if (dec.length >= 4 && dec.toString('latin1', 1, 4) === 'PNG') return dec;
  }
  return raw;
}
