/**
 * scan — turns a source folder into a Merkle tree of blobs (common/tree.ts).
 *
 * The cache (cache.ts) keeps, per folder, the tree entries of the last scan
 * and each file's inode. A folder is read with one readdir and one lstat per
 * name; a file whose size, mtime and inode match its cached entry is not
 * read again (its hash is taken from the cache), and a folder whose every
 * entry matches is not serialized or hashed again (its tree id is taken from
 * the cache): a no-change scan costs a stat per file and nothing more.
 *
 * A folder whose tree id differs from the last *committed* one has changed:
 * only its trees are sent, and only the blobs it names are offered to the
 * server (`onCandidate`, as soon as the folder is done, so the backup can ask
 * for and upload them while the scan goes on). Between folders the scan can
 * wait on `pause()` so uploads in flight get the event loop.
 *
 * Symbolic links are recorded as links and never followed; sockets, devices
 * and fifos are skipped; unreadable files are skipped with a warning; files
 * are opened O_NOFOLLOW and must still be regular files once open (the
 * server runs this scanner as root over folders old laptops write).
 * Excluded top-level names (the Journal's index, flags and checksums, which
 * Sugar rebuilds) are left out.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  type Stats,
} from 'node:fs';
import {
  compareNames,
  entryKind,
  entryMode,
  entryMtime,
  entryName,
  entryRef,
  entrySize,
  INLINE_MAX,
  blobsOf,
  isBlobEntry,
  isChunkedEntry,
  isFileEntry,
  makeEntry,
  sameEntry,
  serializeTree,
  treeId,
  type TreeEntry,
} from '../protocol/tree.js';
import { formatChunkList } from '../protocol/chunked.js';
import { MAX_TREE_DEPTH } from '../protocol/limits.js';
import { Chunker, CHUNK_THRESHOLD } from '../protocol/fastcdc.js';
import { committedIds, loadCache, type CachedDir, type HashCache } from './cache.js';
import { unlessCode, unlessMissing } from '../platform/fs-errors.js';
import { hashFd } from '../platform/file-hash.js';

export const DATASTORE_EXCLUDES = new Set(['index', 'index_updated', 'ds_clean', 'checksums']);

/**
 * A file blob and where to read it (size and mtime as scanned, to detect
 * later changes). A chunk of a chunked file is `size` bytes at `offset` of
 * a file of `fileSize` bytes.
 */
export interface BlobRef {
  id: string;
  path: string;
  size: number;
  mtime: number;
  offset?: number;
  fileSize?: number;
}

/** A file this scan read (not a cache hit). ref: sha256, or base64 content when inline. */
export interface HashedFile {
  rel: string;
  ino: number;
  size: number;
  ref: string;
  inline: boolean;
}

export interface ScanHooks {
  /** Cut files of at least CHUNK_THRESHOLD bytes into content-defined chunks ("c" entries); else every file is one blob. */
  chunkBig?: boolean;
  /** Keep the list of files read in this run (ScanResult.hashed; the server's legacy ingest re-reads them). */
  keepHashed?: boolean;
  /** A blob named by a changed folder (each id once per scan). */
  onCandidate?(b: BlobRef): void;
  /** The tree of a folder that differs from the last committed one (as soon as it is known). */
  onTree?(id: string, text: string): void;
  /** When it returns a promise the scan waits for it before the next folder. */
  pause?(): Promise<void> | null;
}

export interface ScanResult {
  source: string;
  dir: string;
  root: string;
  /** Folders whose tree differs from the last committed snapshot. */
  changedDirs: Set<string>;
  /** Tree texts of the changed folders, by id. */
  changedTrees: Map<string, string>;
  /** One readable path per distinct file blob. */
  blobs: Map<string, BlobRef>;
  /** Blobs named in changed folders: what the server may lack. */
  candidates: Set<string>;
  files: number;
  bytes: number;
  hashedFiles: number;
  hashedBytes: number;
  /** The files read in this run (with ScanHooks.keepHashed only). */
  hashed: HashedFile[];
  warnings: string[];
  /** The new cache: every folder of this scan. */
  cache: HashCache;
  /** The cache differs from what was loaded. */
  cacheDirty: boolean;
}

const CHUNK = 1024 * 1024;
/** A file modified this close to the scan's start (or during it) is read again by the next scan: it may still change within one mtime tick. */
const RACY_MS = 100;
/** One reusable read buffer: hashing thousands of files allocates nothing per file. */
const READ_BUF = Buffer.allocUnsafe(CHUNK);

/** Opens a regular file for reading, never through a link and never a device or fifo. */
function openRegular(path: string): number {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new Error('no longer a regular file');
  }
  return fd;
}

/**
 * Reads a file once: its content-defined chunks (protocol/fastcdc.ts), each
 * chunk's sha256 and the whole file's sha256.
 */
export function chunkFile(path: string): { hash: string; size: number; chunks: Array<[string, number]> } {
  const fd = openRegular(path);
  try {
    const h = createHash('sha256');
    const chunks: Array<[string, number]> = [];
    const cdc = new Chunker((bytes) => chunks.push([createHash('sha256').update(bytes).digest('hex'), bytes.length]));
    let size = 0;
    for (;;) {
      const n = readSync(fd, READ_BUF, 0, CHUNK, null);
      if (n === 0) break;
      const piece = READ_BUF.subarray(0, n);
      h.update(piece);
      cdc.push(piece);
      size += n;
    }
    cdc.end();
    return { hash: h.digest('hex'), size, chunks };
  } finally {
    closeSync(fd);
  }
}

export function hashFile(path: string): { hash: string; size: number } {
  const fd = openRegular(path);
  try {
    return hashFd(fd);
  } finally {
    closeSync(fd);
  }
}

class Scanner {
  private readonly committed: Record<string, string>;
  /** mtimes at or after this are "racy" (see dir()). */
  private readonly racyAfter = Date.now() - RACY_MS;
  constructor(
    readonly r: ScanResult,
    readonly old: HashCache,
    readonly excludes: Set<string>,
    readonly hooks: ScanHooks,
  ) {
    this.committed = committedIds(old);
  }

  /** A regular file's entry: from the cache when size, mtime and inode match, else read. */
  private file(
    abs: string,
    rel: string,
    name: string,
    st: Stats,
    prev: TreeEntry | undefined,
    prevIno: number,
  ): TreeEntry | null {
    const mode = st.mode & 0o7777;
    const mtime = st.mtimeMs;
    if (prev && isFileEntry(prev) && entrySize(prev) === st.size && entryMtime(prev) === mtime && prevIno === st.ino) {
      this.r.files++;
      this.r.bytes += entrySize(prev);
      return entryMode(prev) === mode
        ? prev
        : makeEntry(name, entryKind(prev), mode, mtime, entrySize(prev), entryRef(prev));
    }
    let got: { ref: string; size: number; inline: boolean; chunked?: boolean };
    try {
      got = this.read(abs, st.size);
    } catch (e) {
      this.r.warnings.push(`skipped unreadable file ${rel}: ${(e as Error).message}`);
      return null;
    }
    this.r.hashedFiles++;
    this.r.hashedBytes += got.size;
    this.r.files++;
    this.r.bytes += got.size;
    if (this.hooks.keepHashed)
      this.r.hashed.push({ rel, ino: st.ino, size: got.size, ref: got.ref, inline: got.inline });
    return makeEntry(name, got.inline ? 'i' : got.chunked ? 'c' : 'f', mode, mtime, got.size, got.ref);
  }

  /** Reads a file once: tiny ones become their base64 content, others their sha256. */
  private read(abs: string, size: number): { ref: string; size: number; inline: boolean; chunked?: boolean } {
    if (size <= INLINE_MAX) {
      const fd = openRegular(abs);
      let n: number;
      try {
        n = readSync(fd, READ_BUF, 0, INLINE_MAX + 1, 0);
      } finally {
        closeSync(fd);
      }
      if (n <= INLINE_MAX) return { ref: READ_BUF.toString('base64', 0, n), size: n, inline: true };
    }
    if (this.hooks.chunkBig && size >= CHUNK_THRESHOLD) {
      const c = chunkFile(abs);
      // (a file that shrank below the threshold while we looked is one blob)
      if (c.size >= CHUNK_THRESHOLD)
        return { ref: formatChunkList(c.hash, c.chunks), size: c.size, inline: false, chunked: true };
    }
    const h = hashFile(abs); // (a tiny file that grew while we looked is an ordinary blob)
    return { ref: h.hash, size: h.size, inline: false };
  }

  /** The cached entry named `name`, found by walking the sorted cached entries along with the sorted names. */
  private static match(e: TreeEntry[] | undefined, at: { i: number }, name: string): number {
    if (!e) return -1;
    while (at.i < e.length && entryName(e[at.i]) < name) at.i++;
    return at.i < e.length && entryName(e[at.i]) === name ? at.i : -1;
  }

  /**
   * A cached folder's entries: its tree text parsed, or undefined when absent
   * or damaged (the text must still hash to its id: the id is reused as is).
   */
  private static entriesOf(old: CachedDir | undefined): TreeEntry[] | undefined {
    if (!old || typeof old[1] !== 'string' || treeId(old[1]) !== old[0]) return undefined;
    try {
      const e = (JSON.parse(old[1]) as { e?: unknown }).e;
      return Array.isArray(e) && Array.isArray(old[2]) && e.length === old[2].length ? (e as TreeEntry[]) : undefined;
    } catch {
      return undefined; // a damaged cache entry: the folder is read again
    }
  }

  *dir(abs: string, rel: string): Generator<Promise<void>, string> {
    const old = this.old.dirs[rel];
    const was = Scanner.entriesOf(old);
    const entries: TreeEntry[] = [];
    const inos: number[] = [];
    const blobs: BlobRef[] = [];
    // Chunks of this folder's big files as last committed to this server: present
    // there, so not offered again (a 100-byte edit of a 50 MB file then asks
    // `missing` about one or two chunks, not ~700). The commit still checks.
    const known = new Set<string>();
    const committedHere = was !== undefined && this.committed[rel] === old![0];
    const at = { i: 0 };
    for (const name of readdirSync(abs).sort(compareNames)) {
      if (rel === '' && this.excludes.has(name)) continue;
      const childAbs = `${abs}/${name}`;
      const childRel = rel === '' ? name : `${rel}/${name}`;
      let st: Stats;
      try {
        st = lstatSync(childAbs);
      } catch (e) {
        unlessMissing(e);
        continue; // vanished while scanning
      }
      const k = Scanner.match(was, at, name);
      const prev = k >= 0 ? was![k] : undefined;
      if (committedHere && prev && isChunkedEntry(prev)) for (const [id] of blobsOf(prev)) known.add(id);
      let e: TreeEntry | null = null;
      let ino = 0;
      if (st.isDirectory() && childRel.split('/').length >= MAX_TREE_DEPTH) {
        // Its tree would sit below level MAX_TREE_DEPTH: the server refuses such a snapshot (and the
        // recursion of this walk stays bounded).
        this.r.warnings.push(`skipped folder ${childRel}: folders nest deeper than ${MAX_TREE_DEPTH} levels`);
        continue;
      } else if (st.isDirectory()) {
        try {
          e = makeEntry(name, 'd', st.mode & 0o7777, st.mtimeMs, 0, yield* this.dir(childAbs, childRel));
        } catch (err) {
          // Only the filesystem's refusals skip a folder; anything else (an upload
          // that failed meanwhile, surfacing through pause()) ends the scan.
          if (!(err as NodeJS.ErrnoException).syscall) throw err;
          this.r.warnings.push(`skipped unreadable folder ${childRel}: ${(err as Error).message}`);
        }
      } else if (st.isFile()) {
        e = this.file(childAbs, childRel, name, st, prev, k >= 0 ? old![2][k] : 0);
        ino = st.ino;
        if (e && isBlobEntry(e)) blobs.push({ id: entryRef(e), path: childAbs, size: entrySize(e), mtime: st.mtimeMs });
        else if (e && isChunkedEntry(e)) {
          let offset = 0;
          for (const [id, size] of blobsOf(e)) {
            blobs.push({ id, path: childAbs, size, mtime: st.mtimeMs, offset, fileSize: entrySize(e) });
            offset += size;
          }
        }
      } else if (st.isSymbolicLink()) {
        try {
          e = makeEntry(name, 'l', st.mode & 0o7777, st.mtimeMs, 0, readlinkSync(childAbs));
          this.r.files++;
        } catch (err) {
          unlessCode(err, 'ENOENT', 'ENOTDIR', 'EINVAL');
          continue; // vanished (or replaced by a non-link) while scanning
        }
      }
      if (!e) continue;
      entries.push(prev && prev !== e && k >= 0 && old![2][k] === ino && sameEntry(prev, e) ? prev : e);
      // A file modified in the last moments before this scan may still be
      // changing within the same mtime tick: its hash is not trusted next time.
      inos.push(ino && st.mtimeMs < this.racyAfter ? ino : 0);
    }
    const id = this.finish(rel, was ? old : undefined, was, entries, inos);
    for (const b of blobs) if (!this.r.blobs.has(b.id)) this.r.blobs.set(b.id, b);
    if (this.committed[rel] !== id) {
      this.r.changedDirs.add(rel);
      for (const b of blobs) {
        if (this.r.candidates.has(b.id) || known.has(b.id)) continue;
        this.r.candidates.add(b.id);
        this.hooks.onCandidate?.(this.r.blobs.get(b.id)!);
      }
    }
    const wait = this.hooks.pause?.();
    if (wait) yield wait;
    return id;
  }

  /** The folder's id: the cached one when every entry is the cached object, else its hash. */
  private finish(
    rel: string,
    old: CachedDir | undefined,
    was: TreeEntry[] | undefined,
    entries: TreeEntry[],
    inos: number[],
  ): string {
    if (old && was && was.length === entries.length && entries.every((e, i) => e === was[i])) {
      this.r.cache.dirs[rel] = old;
      if (this.committed[rel] !== old[0]) this.changed(old[0], old[1]);
      return old[0];
    }
    this.r.cacheDirty = true;
    const text = serializeTree(entries);
    const id = treeId(text);
    this.r.cache.dirs[rel] = [id, text, inos];
    if (this.committed[rel] !== id) this.changed(id, text);
    return id;
  }

  private changed(id: string, text: string): void {
    if (this.r.changedTrees.has(id)) return;
    this.r.changedTrees.set(id, text);
    this.hooks.onTree?.(id, text);
  }
}

function newResult(source: string, dir: string, old: HashCache, server: string): ScanResult {
  return {
    source,
    dir,
    root: '',
    changedDirs: new Set(),
    changedTrees: new Map(),
    blobs: new Map(),
    candidates: new Set(),
    files: 0,
    bytes: 0,
    hashedFiles: 0,
    hashedBytes: 0,
    hashed: [],
    warnings: [],
    cacheDirty: false,
    cache: { v: 3, dirs: {}, committed: committedIds(old), root: old.root, server },
  };
}

function prepare(cacheFile: string, server: string): HashCache {
  const old = loadCache(cacheFile);
  // Committed tree ids say what *this* server has; for another server, start over.
  if (old.server !== server) {
    old.committed = {};
    old.root = null;
  }
  return old;
}

/** A scan ready to walk: the generator yields whenever hooks.pause() asks the caller to wait. */
function startScan(
  source: string,
  dir: string,
  cacheFile: string,
  server: string,
  excludes: Set<string>,
  hooks: ScanHooks,
) {
  const old = prepare(cacheFile, server);
  const r = newResult(source, dir, old, server);
  return { r, old, walk: new Scanner(r, old, excludes, hooks).dir(dir, '') };
}

/** Scans while letting the caller upload: waits on hooks.pause() between folders. */
export async function scanSourceAsync(
  source: string,
  dir: string,
  cacheFile: string,
  server: string,
  excludes: Set<string>,
  hooks: ScanHooks,
): Promise<ScanResult> {
  const { r, old, walk } = startScan(source, dir, cacheFile, server, excludes, hooks);
  let step = walk.next();
  for (; !step.done; step = walk.next()) await step.value;
  r.root = step.value;
  return done(r, old);
}

/** The same scan, all at once (pause is not used). */
export function scanSource(
  source: string,
  dir: string,
  cacheFile: string,
  server: string,
  excludes = new Set<string>(),
  hooks: ScanHooks = {},
): ScanResult {
  const { r, old, walk } = startScan(source, dir, cacheFile, server, excludes, { ...hooks, pause: undefined });
  let step = walk.next();
  while (!step.done) step = walk.next();
  r.root = step.value;
  return done(r, old);
}

function done(r: ScanResult, old: HashCache): ScanResult {
  if (Object.keys(old.dirs).length !== Object.keys(r.cache.dirs).length) r.cacheDirty = true;
  return r;
}

/** Every tree of the scan, by id (a full resend, or a server-side ingest). */
export function allTrees(r: ScanResult): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of Object.values(r.cache.dirs)) out[d[0]] = d[1];
  return out;
}
