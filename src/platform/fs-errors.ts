/**
 * fs-errors — naming the one failure a catch expects, so nothing else is
 * swallowed.
 *
 * A `catch` that falls back ("no file yet: defaults") must handle only the
 * error that means it — usually "the path is not there" — and rethrow
 * everything else (EACCES, EIO, a damaged file…), so a failure to read state
 * is never mistaken for its absence.
 */
import { readFileSync } from 'node:fs';
import { AppError } from './errors.js';

/** The errno code of a thrown error (undefined when it has none). */
function errnoOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** "Nothing there": ENOENT, or ENOTDIR for a path through something that is not a folder. */
function isMissing(e: unknown): boolean {
  const c = errnoOf(e);
  return c === 'ENOENT' || c === 'ENOTDIR';
}

/** Rethrows `e` unless it says the path is missing (then the caller's fallback applies). */
export function unlessMissing(e: unknown): void {
  if (!isMissing(e)) throw e;
}

/** Rethrows `e` unless its errno code is one of `codes`. */
export function unlessCode(e: unknown, ...codes: string[]): void {
  const c = errnoOf(e);
  if (c === undefined || !codes.includes(c)) throw e;
}

/**
 * Reads a JSON state file that guards data (or access): null when it does
 * not exist; when it cannot be read or parsed, throws state_damaged naming
 * the file — never "absent", which could let the caller overwrite it or act
 * as if it held nothing. `read` fetches the text when it is not a plain file
 * at `path` (an object store's record; `path` then only names it).
 */
export function readJsonState(
  path: string,
  what: string,
  read: () => string = () => readFileSync(path, 'utf8'),
): unknown {
  let text: string;
  try {
    text = read();
  } catch (e) {
    if (isMissing(e)) return null;
    throw damaged(path, what, e);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw damaged(path, what, e);
  }
}

function damaged(path: string, what: string, e: unknown): AppError {
  return new AppError(
    'state_damaged',
    `${what} ${path} cannot be read (${(e as Error).message}); nothing was changed. Restore it from a backup ` +
      'or repair it by hand; move it away only if what it held is truly lost.',
  );
}
