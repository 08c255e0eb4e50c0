/**
 * chunked — how a chunked file ("c" tree entry, tree.ts) names its bytes.
 *
 * The entry's ref is its chunk list, one string:
 *
 *   <sha256 of the whole file>,<chunk id>:<size>,<chunk id>:<size>,...
 *
 * ids are lowercase hex SHA-256 blob ids (each chunk is an ordinary pool
 * blob, shared with every other file and laptop that has the same bytes);
 * sizes are decimal without leading zeros, 1..CDC_MAX, and add up to the
 * entry's size. The chunks in order are the file. The whole-file hash lets
 * every reader verify what it rebuilt (the server cannot check it at
 * commit without reading every chunk; a wrong one only makes the sender's
 * own restores fail, never another account's).
 *
 * Kept in the tree (not a separate object): an unchanged big file keeps its
 * folder's tree id, the list travels and is checked with the trees, and GC
 * reaches the chunks through the trees it already walks. A 50 MB file's list
 * is ~50 KB of tree text at 64 KiB chunks (README "Big files").
 */
import { isBlobId } from './hash.js';
import { CDC_MAX } from './fastcdc.js';

export interface ChunkList {
  /** sha256 of the whole file. */
  whole: string;
  /** [blob id, size] of each chunk, in file order. */
  chunks: Array<[string, number]>;
}

const SIZE_RE = /^[1-9][0-9]{0,9}$/;

export function formatChunkList(whole: string, chunks: ReadonlyArray<readonly [string, number]>): string {
  let s = whole;
  for (const [id, size] of chunks) s += `,${id}:${size}`;
  return s;
}

/** Parses a chunk list known to be valid (checked by parseTree). */
export function parseChunkList(ref: string): ChunkList {
  const parts = ref.split(',');
  const chunks: Array<[string, number]> = new Array(parts.length - 1);
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i];
    chunks[i - 1] = [p.slice(0, 64), Number(p.slice(65))];
  }
  return { whole: parts[0], chunks };
}

/** Why `ref` is not a valid chunk list for a file of `size` bytes, or null. */
export function chunkListProblem(ref: string, size: number): string | null {
  const parts = ref.split(',');
  if (!isBlobId(parts[0])) return 'chunk list does not start with the file hash';
  if (parts.length < 2) return 'chunk list names no chunk';
  let sum = 0;
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i];
    if (p.length < 66 || p[64] !== ':' || !isBlobId(p.slice(0, 64))) return `chunk ${i} is not <id>:<size>`;
    const s = p.slice(65);
    if (!SIZE_RE.test(s) || Number(s) > CDC_MAX) return `chunk ${i} has a bad size`;
    sum += Number(s);
  }
  if (sum !== size) return `chunks add up to ${sum} bytes, not ${size}`;
  return null;
}
