/**
 * tree — the directory listing format shared by agent and server.
 *
 * A snapshot is a Merkle tree. Each directory is one *tree blob*: canonical
 * JSON `{"v":1,"e":[[name, kind, mode, mtimeMs, size, ref], ...]}` with
 * entries sorted by name (JavaScript string order) and unique. `kind` is
 * "f" (file; ref = blob id of its bytes), "d" (directory; ref = tree id) or
 * "l" (symbolic link; ref = the link target text, never followed) or "i"
 * (a file of at most INLINE_MAX bytes kept inline: ref = base64 of its
 * bytes — Journal metadata values, ~3/4 of a Journal's files, then cost no
 * pool file, no upload round trip and no reference row).
 * A tree's id is the SHA-256 of its canonical bytes, so an unchanged
 * directory has the same id in every snapshot and costs nothing to send or
 * store again.
 *
 * parseTree() is the gate for trees that come from outside: it checks every
 * name, kind, mode, size and reference, and that the bytes are canonical.
 */
import { AppError } from '../platform/errors.js';
import { isBlobId, sha256Hex } from './hash.js';
import { nameProblem, MAX_PATH_BYTES } from './names.js';

export type EntryKind = 'f' | 'd' | 'l' | 'i';
/** [name, kind, mode, mtimeMs, size, ref] */
export type TreeEntry = [string, EntryKind, number, number, number, string];

export interface Tree {
  v: 1;
  e: TreeEntry[];
}

export const MAX_TREE_ENTRIES = 200_000;
/** Files of at most this many bytes travel and are stored inside their folder's tree. */
export const INLINE_MAX = 48;

/** A regular file, stored in the pool ('f') or inline ('i')? */
export function isFileEntry(e: TreeEntry): boolean {
  return e[1] === 'f' || e[1] === 'i';
}

/** The bytes of a file entry: decoded inline, or read through `blob`. */
export function fileBytes(e: TreeEntry, blob: (id: string) => Buffer): Buffer {
  return e[1] === 'i' ? Buffer.from(e[5], 'base64') : blob(e[5]);
}
export const MAX_TREE_BYTES = 32 * 1024 * 1024;

export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Canonical bytes of a tree whose entries are already sorted. */
export function serializeTree(entries: TreeEntry[]): string {
  return JSON.stringify({ v: 1, e: entries });
}

export function treeId(text: string): string {
  return sha256Hex(text);
}

function bad(msg: string): never {
  throw new AppError('invalid_manifest', msg);
}

function checkEntry(x: unknown, i: number): TreeEntry {
  if (!Array.isArray(x) || x.length !== 6) bad(`tree entry ${i} is not [name, kind, mode, mtime, size, ref]`);
  const [name, kind, mode, mtime, size, ref] = x as unknown[];
  const np = nameProblem(name);
  if (np) bad(`tree entry ${i}: ${np}`);
  if (kind !== 'f' && kind !== 'd' && kind !== 'l' && kind !== 'i') bad(`tree entry ${i}: unknown kind`);
  if (!Number.isInteger(mode) || (mode as number) < 0 || (mode as number) > 0o7777) bad(`tree entry ${i}: bad mode`);
  if (typeof mtime !== 'number' || !Number.isFinite(mtime) || mtime < 0 || mtime > 1e14)
    bad(`tree entry ${i}: bad mtime`);
  if (!Number.isSafeInteger(size) || (size as number) < 0) bad(`tree entry ${i}: bad size`);
  if (typeof ref !== 'string') bad(`tree entry ${i}: bad reference`);
  if (kind === 'l') {
    if (ref.length === 0 || ref.includes('\0') || Buffer.byteLength(ref) > MAX_PATH_BYTES)
      bad(`tree entry ${i}: bad link target`);
  } else if (kind === 'i') {
    const bytes = Buffer.from(ref, 'base64');
    if (size !== bytes.length || bytes.length > INLINE_MAX || bytes.toString('base64') !== ref)
      bad(`tree entry ${i}: bad inline content`);
  } else if (!isBlobId(ref)) bad(`tree entry ${i}: reference is not a sha256 id`);
  if (kind === 'd' && size !== 0) bad(`tree entry ${i}: directory with a size`);
  return [name as string, kind, mode as number, mtime, size as number, ref];
}

/** Parses and checks a tree that came from outside. Throws invalid_manifest. */
export function parseTree(text: string): Tree {
  if (text.length > MAX_TREE_BYTES) bad('tree too large');
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    bad('tree is not JSON'); // JSON.parse throws only SyntaxError
  }
  const t = obj as { v?: unknown; e?: unknown };
  if (!t || typeof t !== 'object' || t.v !== 1 || !Array.isArray(t.e)) bad('tree is not {"v":1,"e":[...]}');
  if (t.e.length > MAX_TREE_ENTRIES) bad('tree has too many entries');
  const entries = t.e.map(checkEntry);
  for (let i = 1; i < entries.length; i++) {
    if (compareNames(entries[i - 1][0], entries[i][0]) >= 0) bad('tree entries not sorted or not unique');
  }
  if (serializeTree(entries) !== text) bad('tree is not in canonical form');
  return { v: 1, e: entries };
}

/** Parses a tree already known to be valid (read from the server's tree store). */
export function readTrustedTree(text: string): Tree {
  return JSON.parse(text) as Tree;
}
