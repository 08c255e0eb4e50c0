/**
 * bundle — one Journal entry as a Journal Entry Bundle (.xoj), and file names.
 *
 * A .xoj is a zip whose members all sit under the root folder `<uid>/`:
 *   <uid>/_metadata.json   JSON object of strings: every metadata key except
 *                          `preview` (binary) and `mountpoint` (would send
 *                          Sugar's write elsewhere); values that are not
 *                          valid UTF-8 are left out
 *   <uid>/<uid>            the data file
 *   <uid>/preview/<uid>    the preview PNG (base64 previews decoded), always
 *                          present, empty when the entry has none
 * Sugar's Journal imports it with its metadata when the browser downloads it
 * (MIME XOJ_MIME). An entry with no data file cannot be a bundle (canBundle):
 * offer its metadata only.
 *
 * xojZip returns a yazl ZipFile that is already ended: pipe its
 * `outputStream` to the response. Media that is already compressed (PNG,
 * JPEG, Ogg, PDF, zip-based formats) is stored, the rest deflated. Member
 * mtimes come from the entry's timestamp, so a bundle is reproducible.
 *
 * dataFileName/xojFileName give a safe download name from the title.
 */
import yazl from 'yazl';
import type { Readable } from 'node:stream';
import { AppError } from '../platform/errors.js';
import { UID_RE, decodePreview } from './metadata.js';

export const XOJ_MIME = 'application/vnd.olpc-journal-entry';

export interface XojEntry {
  uid: string;
  metadata: Record<string, Buffer>;
  /** The data bytes, a path to the data file, or a stream of it. */
  data: Buffer | string | NodeJS.ReadableStream;
}

/** Keys never written to _metadata.json. */
const LEFT_OUT = new Set(['preview', 'mountpoint']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** An entry can be imported as a bundle only if it has a data file. */
export function canBundle(hasData: boolean): boolean {
  return hasData;
}

/** The _metadata.json object: string values, no preview, no mountpoint, no invalid UTF-8. */
export function xojMetadata(metadata: Record<string, Buffer>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(metadata).sort()) {
    if (LEFT_OUT.has(key)) continue;
    try {
      out[key] = utf8.decode(metadata[key]);
    } catch {
      // not valid UTF-8: Sugar could not store it as a string anyway
    }
  }
  return out;
}

const STORED_MIME =
  /^(image\/(png|jpeg|gif)|audio\/|video\/|application\/(pdf|zip|epub\+zip|vnd\.olpc-sugar|vnd\.oasis\.opendocument\.|x-xo))/;

function entryTime(metadata: Record<string, Buffer>): Date {
  const t = Number(metadata.timestamp?.toString('latin1').trim());
  return Number.isSafeInteger(t) && t > 0 ? new Date(t * 1000) : new Date(0);
}

/** A .xoj zip of one entry (already ended; pipe `outputStream`). Throws bad_request on a malformed uid. */
export function xojZip(entry: XojEntry): yazl.ZipFile {
  if (!UID_RE.test(entry.uid)) throw new AppError('bad_request', `not a Journal uid: ${JSON.stringify(entry.uid)}`);
  const { uid, metadata, data } = entry;
  const mtime = entryTime(metadata);
  const mime = metadata.mime_type?.toString('utf8') ?? '';
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from(JSON.stringify(xojMetadata(metadata))), `${uid}/_metadata.json`, { mtime });
  const opts = { mtime, compress: !STORED_MIME.test(mime) };
  if (Buffer.isBuffer(data)) zip.addBuffer(data, `${uid}/${uid}`, opts);
  else if (typeof data === 'string') zip.addFile(data, `${uid}/${uid}`, opts);
  else {
    // yazl listens for no error on a stream it is given: a failing one (a damaged stored file) cuts the zip.
    data.on('error', (err: Error) => (zip.outputStream as Readable).destroy(err));
    zip.addReadStream(data, `${uid}/${uid}`, opts);
  }
  const preview = metadata.preview ? decodePreview(metadata.preview) : Buffer.alloc(0);
  zip.addBuffer(preview, `${uid}/preview/${uid}`, { mtime, compress: false });
  zip.end();
  zip.on('error', (err: Error) => (zip.outputStream as Readable).destroy(err));
  return zip;
}

/** MIME type → file extensions, the first one preferred. */
const EXTENSIONS: Record<string, string[]> = {
  'image/png': ['.png'],
  'image/jpeg': ['.jpg', '.jpeg'],
  'image/gif': ['.gif'],
  'image/svg+xml': ['.svg'],
  'image/bmp': ['.bmp'],
  'application/pdf': ['.pdf'],
  'text/plain': ['.txt'],
  'text/html': ['.html', '.htm'],
  'text/csv': ['.csv'],
  'text/rtf': ['.rtf'],
  'application/rtf': ['.rtf'],
  'application/json': ['.json'],
  'audio/ogg': ['.ogg', '.oga'],
  'audio/x-speex': ['.spx'],
  'audio/mpeg': ['.mp3'],
  'audio/wav': ['.wav'],
  'audio/x-wav': ['.wav'],
  'video/ogg': ['.ogv', '.ogg'],
  'video/mp4': ['.mp4'],
  'video/webm': ['.webm'],
  'application/ogg': ['.ogg'],
  'application/x-turtle-art': ['.ta'],
  'application/x-scratch-project': ['.sb'],
  'application/zip': ['.zip'],
  'application/epub+zip': ['.epub'],
  'application/vnd.olpc-sugar': ['.xo'],
  'application/vnd.olpc-journal-entry': ['.xoj'],
  'application/vnd.oasis.opendocument.text': ['.odt'],
  'application/vnd.oasis.opendocument.spreadsheet': ['.ods'],
  'application/vnd.oasis.opendocument.presentation': ['.odp'],
  'application/msword': ['.doc'],
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': ['.docx'],
  'application/x-abiword': ['.abw'],
};

/** Preferred extension for a MIME type ("" when unknown). Parameters (";charset=") are ignored. */
export function extensionFor(mimeType: string): string {
  const base = mimeType.split(';')[0].trim().toLowerCase();
  return EXTENSIONS[base]?.[0] ?? '';
}

const MAX_TITLE_CHARS = 100;

/** A title as one safe file name component: no / \ NUL or control characters, trimmed, ≤ 100 characters. */
export function sanitizeTitle(title: string): string {
  const cleaned = title
    .replace(/[/\\]/g, '-')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\.+/, '')
    .trim();
  return Array.from(cleaned).slice(0, MAX_TITLE_CHARS).join('').trim();
}

/** A download name for the data: sanitized title (uid when empty) + the MIME type's extension unless already there. */
export function dataFileName(title: string, mimeType: string, uid: string): string {
  const base = sanitizeTitle(title) || uid;
  const base0 = mimeType.split(';')[0].trim().toLowerCase();
  const exts = EXTENSIONS[base0] ?? [];
  const lower = base.toLowerCase();
  if (exts.length === 0 || exts.some((e) => lower.endsWith(e) && lower.length > e.length)) return base;
  return `${base}${exts[0]}`;
}

/** A download name for the entry's .xoj bundle. */
export function xojFileName(title: string, uid: string): string {
  const base = sanitizeTitle(title) || uid;
  return /.\.xoj$/i.test(base) ? base : `${base}.xoj`;
}
