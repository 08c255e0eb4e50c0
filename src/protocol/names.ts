/**
 * names — checks for every path or name that comes from outside.
 *
 * A tree entry name is one path component: non-empty, at most 255 bytes of
 * UTF-8, no '/', no NUL, not '.' or '..'. A relative path is a '/'-joined list
 * of such components. Serial numbers and snapshot names have their own shapes.
 */
import { AppError } from '../platform/errors.js';

export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 4096;

export function nameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'empty name';
  if (name === '.' || name === '..') return `name "${name}" is not allowed`;
  if (name.includes('/')) return 'name contains "/"';
  if (name.includes('\0')) return 'name contains NUL';
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `name longer than ${MAX_NAME_BYTES} bytes`;
  return null;
}

export function assertName(name: unknown): asserts name is string {
  const p = nameProblem(name);
  if (p) throw new AppError('invalid_path', p);
}

/** Validates a relative path ("a/b/c") and returns its components. */
export function splitRelPath(path: unknown): string[] {
  if (typeof path !== 'string' || path.length === 0) throw new AppError('invalid_path', 'empty path');
  if (path.startsWith('/')) throw new AppError('invalid_path', `absolute path not allowed: ${JSON.stringify(path)}`);
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw new AppError('invalid_path', 'path too long');
  const parts = path.split('/');
  for (const part of parts) {
    const p = nameProblem(part);
    if (p) throw new AppError('invalid_path', `${p} in path ${JSON.stringify(path)}`);
  }
  return parts;
}

/**
 * Serial numbers: ASCII letters and digits, 3–32 characters (XO: SHF7000500,
 * SHC31100365). A serial differing only in case is the same laptop: the one
 * canonical form is canonicalSerial()'s — trimmed, then upper-case — and every
 * entry (API, XML-RPC, legacy URLs, web forms and paths, CLIs, import-legacy)
 * turns what it was given into it before using it; folders users/<SN> and
 * catalog rows hold only canonical serials (store/serial-folders.ts moves
 * older ones).
 */
export const SERIAL_RE = /^[A-Za-z0-9]{3,32}$/;
export const CANONICAL_SERIAL_RE = /^[A-Z0-9]{3,32}$/;

/** A well-formed serial in any case (use canonicalSerial() before looking it up). */
export function isSerial(s: unknown): s is string {
  return typeof s === 'string' && SERIAL_RE.test(s);
}

/** The canonical form of a serial (trimmed, upper-case), or null when it is not a serial. */
export function canonicalSerial(s: unknown): string | null {
  if (typeof s !== 'string') return null;
  const t = s.trim();
  // The charset is checked before upper-casing: 'ß'.toUpperCase() is 'SS'.
  return SERIAL_RE.test(t) ? t.toUpperCase() : null;
}

export function isCanonicalSerial(s: unknown): s is string {
  return typeof s === 'string' && CANONICAL_SERIAL_RE.test(s);
}

/** Source names: what the agent backs up ("datastore", "documents", "power-logs"). */
export const SOURCE_RE = /^[a-z][a-z0-9-]{0,31}$/;

/** Snapshot folder names: <source>-YYYY-MM-DD_HH:MM[:SS[.mmm]]. */
export const SNAPSHOT_NAME_RE = /^([a-z][a-z0-9-]{0,31})-(\d{4}-\d{2}-\d{2}_\d{2}:\d{2}(?::\d{2}(?:\.\d{3})?)?)$/;

export function isSnapshotName(s: unknown): s is string {
  return typeof s === 'string' && SNAPSHOT_NAME_RE.test(s) && !s.endsWith('-latest');
}

/**
 * The string with lone UTF-16 surrogates (which JSON text may carry as
 * \ud800 escapes) replaced by U+FFFD, so encodeURIComponent and UTF-8
 * encoders accept it (a name in a header or a URL must never throw).
 */
export function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
