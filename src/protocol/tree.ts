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
 * pool file, no upload round trip and no reference row) or "c" (a big file
 * cut into content-defined chunks, protocol/fastcdc.ts: ref is its chunk
 * list, chunked.ts — the whole file's sha256, then each chunk's blob id and
 * size in order; the chunks are ordinary pool blobs). "c" exists from store
 * format version 2 on.
 * A tree's id is the SHA-256 of its canonical bytes, so an unchanged
 * directory has the same id in every snapshot and costs nothing to send or
 * store again.
 *
 * parseTree() is the gate for trees that come from outside: it checks every
 * name, kind, mode, size and reference, and that the bytes are canonical.
 */
import { AppError } from '../platform/errors.js';
import { isBlobId, sha256Hex } from './hash.js';
import { chunkListProblem, parseChunkList } from './chunked.js';
import { INLINE_MAX, MAX_TREE_BYTES, MAX_TREE_ENTRIES } from './limits.js';
import { nameProblem, MAX_PATH_BYTES } from './names.js';

export { INLINE_MAX, MAX_TREE_BYTES, MAX_TREE_ENTRIES };

export type EntryKind = 'f' | 'd' | 'l' | 'i' | 'c';
/**
 * One entry as it is on disk and on the wire: [name, kind, mode, mtimeMs, size, ref].
 * Code reads it through the accessors below (never by position): the array
 * form stays because it is the format, and parsing it costs nothing extra.
 */
export type TreeEntry = [name: string, kind: EntryKind, mode: number, mtimeMs: number, size: number, ref: string];

export const entryName = (e: TreeEntry): string => e[0];
export const entryKind = (e: TreeEntry): EntryKind => e[1];
/** Permission bits (0..0o7777). */
export const entryMode = (e: TreeEntry): number => e[2];
export const entryMtime = (e: TreeEntry): number => e[3];
/** Bytes of a file (0 for a folder). */
export const entrySize = (e: TreeEntry): number => e[4];
/** Blob id ('f'), tree id ('d'), link target ('l'), base64 bytes ('i') or chunk list ('c'). */
export const entryRef = (e: TreeEntry): string => e[5];
export const isDirEntry = (e: TreeEntry): boolean => e[1] === 'd';
/** A file whose bytes are one pool blob (not inline, not chunked)? */
export const isBlobEntry = (e: TreeEntry): boolean => e[1] === 'f';
/** A big file stored as content-defined chunks? */
export const isChunkedEntry = (e: TreeEntry): boolean => e[1] === 'c';

/**
 * Every pool blob an entry needs, as [id, size]: its blob ('f'), its chunks
 * in order ('c'; a chunk repeated in the file is listed each time), none
 * otherwise. Everything that references, counts, fetches or checks blobs
 * goes through this, so no reader forgets chunks.
 */
export function blobsOf(e: TreeEntry): Array<[string, number]> {
  if (e[1] === 'f') return [[e[5], e[4]]];
  if (e[1] === 'c') return parseChunkList(e[5]).chunks;
  return [];
}

export function makeEntry(
  name: string,
  kind: EntryKind,
  mode: number,
  mtimeMs: number,
  size: number,
  ref: string,
): TreeEntry {
  return [name, kind, mode, mtimeMs, size, ref];
}

/** Same name, kind, mode, mtime, size and reference? */
export function sameEntry(a: TreeEntry, b: TreeEntry): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && a[4] === b[4] && a[5] === b[5];
}

export interface Tree {
  v: 1;
  e: TreeEntry[];
}

/** A regular file, stored in the pool ('f'), inline ('i') or chunked ('c')? */
export function isFileEntry(e: TreeEntry): boolean {
  const k = entryKind(e);
  return k === 'f' || k === 'i' || k === 'c';
}

/** The bytes of a (small) file entry: decoded inline, or read through `blob` (chunks joined). */
export function fileBytes(e: TreeEntry, blob: (id: string) => Buffer): Buffer {
  if (entryKind(e) === 'i') return Buffer.from(entryRef(e), 'base64');
  if (entryKind(e) === 'c') return Buffer.concat(blobsOf(e).map(([id]) => blob(id)));
  return blob(entryRef(e));
}

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
  if (kind !== 'f' && kind !== 'd' && kind !== 'l' && kind !== 'i' && kind !== 'c')
    bad(`tree entry ${i}: unknown kind`);
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
  } else if (kind === 'c') {
    const problem = chunkListProblem(ref, size as number);
    if (problem) bad(`tree entry ${i}: ${problem}`);
  } else if (!isBlobId(ref)) bad(`tree entry ${i}: reference is not a sha256 id`);
  if (kind === 'd' && size !== 0) bad(`tree entry ${i}: directory with a size`);
  return makeEntry(name as string, kind, mode as number, mtime, size as number, ref);
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
    if (compareNames(entryName(entries[i - 1]), entryName(entries[i])) >= 0)
      bad('tree entries not sorted or not unique');
  }
  if (serializeTree(entries) !== text) bad('tree is not in canonical form');
  return { v: 1, e: entries };
}

/** Parses a tree already known to be valid (read from the server's tree store). */
export function readTrustedTree(text: string): Tree {
  return JSON.parse(text) as Tree;
}
