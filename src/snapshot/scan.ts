/**
 * scan — turns a source folder into a Merkle tree of blobs (common/tree.ts).
 *
 * The cache (cache.ts, a file on disk read and written a folder at a time,
 * so memory does not grow with the source) keeps, per folder, the tree
 * entries of the last scan and each file's inode. The walk is post-order
 * (subfolders, then the folder), the cache file's order. A folder is read with one readdir and one lstat per
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
import { CacheReader, CacheWriter, readCache, type CachedDir } from './cache.js';
import { RecentSet } from '../platform/recent-set.js';
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
  /** The tree of a folder that differs from the last committed one (as soon as it is known); seq: its record's index in the cache file. */
  onTree?(id: string, text: string, seq: number): void;
  /** When it returns a promise the scan waits for it before the next folder. */
  pause?(): Promise<void> | null;
  /** Read every file again (the cache's records are not trusted; it is still rewritten). */
  rehash?: boolean;
}

export interface ScanResult {
  source: string;
  dir: string;
  root: string;
  /** The cache file, holding this scan's folders once it is done (readCache, allTrees, scanBlobs). */
  cacheFile: string;
  server: string;
  /** Folders scanned: records in the cache file. */
  folders: number;
  /** Folders whose tree differs from the last committed snapshot. */
  changedFolders: number;
  /** Blobs offered (onCandidate): named by changed folders, what the server may lack. */
  offered: number;
  files: number;
  bytes: number;
  hashedFiles: number;
  hashedBytes: number;
  /** The files read in this run (with ScanHooks.keepHashed only). */
  hashed: HashedFile[];
  warnings: string[];
  /** The cache file was rewritten. */
  cacheDirty: boolean;
  /** The cache already said every folder of this scan is committed (nothing to mark after a commit). */
  wasCommitted: boolean;
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
  /** mtimes at or after this are "racy" (see dir()). */
  private readonly racyAfter = Date.now() - RACY_MS;
  /** Blobs and trees offered lately (a repeat costs a second offer, not memory for every id). */
  private readonly offered = new RecentSet(4096);
  private readonly trees = new RecentSet(1024);
  constructor(
    readonly r: ScanResult,
    readonly old: CacheReader,
    readonly out: CacheWriter,
    readonly excludes: Set<string>,
    readonly hooks: ScanHooks,
  ) {}

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
    if (!old || treeId(old.tree) !== old.id) return undefined;
    try {
      const e = (JSON.parse(old.tree) as { e?: unknown }).e;
      return Array.isArray(e) && e.length === old.inodes.length ? (e as TreeEntry[]) : undefined;
    } catch {
      return undefined; // a damaged cache entry: the folder is read again
    }
  }

  /** Names and lstat results of a folder, sorted, without the excluded top-level names. */
  private list(abs: string, rel: string): { names: string[]; stats: Stats[] } {
    const names: string[] = [];
    const stats: Stats[] = [];
    for (const name of readdirSync(abs).sort(compareNames)) {
      if (rel === '' && this.excludes.has(name)) continue;
      try {
        stats.push(lstatSync(`${abs}/${name}`));
        names.push(name);
      } catch (e) {
        unlessMissing(e); // vanished while scanning
      }
    }
    return { names, stats };
  }

  /**
   * Subfolders first, then the folder itself: the order of the cache file
   * (cache.ts), so its record is the next one the reader has.
   */
  *dir(abs: string, rel: string): Generator<Promise<void>, string> {
    const { names, stats } = this.list(abs, rel);
    const sub: Array<string | null> = new Array<string | null>(names.length).fill(null);
    for (let i = 0; i < names.length; i++) {
      if (!stats[i].isDirectory()) continue;
      const childRel = rel === '' ? names[i] : `${rel}/${names[i]}`;
      if (childRel.split('/').length >= MAX_TREE_DEPTH) {
        // Its tree would sit below level MAX_TREE_DEPTH: the server refuses such a snapshot (and the
        // recursion of this walk stays bounded).
        this.r.warnings.push(`skipped folder ${childRel}: folders nest deeper than ${MAX_TREE_DEPTH} levels`);
        continue;
      }
      try {
        sub[i] = yield* this.dir(`${abs}/${names[i]}`, childRel);
      } catch (err) {
        // Only the filesystem's refusals skip a folder; anything else (an upload
        // that failed meanwhile, surfacing through pause()) ends the scan.
        if (!(err as NodeJS.ErrnoException).syscall) throw err;
        this.r.warnings.push(`skipped unreadable folder ${childRel}: ${(err as Error).message}`);
      }
    }
    const old = this.old.take(rel);
    if (this.old.skipped) this.out.diverge(); // a folder that is gone: the file changes
    const was = this.hooks.rehash ? undefined : Scanner.entriesOf(old);
    const entries: TreeEntry[] = [];
    const inos: number[] = [];
    const blobs: BlobRef[] = [];
    // Chunks of this folder's big files as last committed to this server: present
    // there, so not offered again (a 100-byte edit of a 50 MB file then asks
    // `missing` about one or two chunks, not ~700). The commit still checks.
    const known = new Set<string>();
    const committedHere = was !== undefined && old!.committed === old!.id;
    const at = { i: 0 };
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const st = stats[i];
      const childAbs = `${abs}/${name}`;
      const k = Scanner.match(was, at, name);
      const prev = k >= 0 ? was![k] : undefined;
      if (committedHere && prev && isChunkedEntry(prev)) for (const [id] of blobsOf(prev)) known.add(id);
      let e: TreeEntry | null = null;
      let ino = 0;
      if (st.isDirectory()) {
        if (sub[i] === null) continue;
        e = makeEntry(name, 'd', st.mode & 0o7777, st.mtimeMs, 0, sub[i]!);
      } else if (st.isFile()) {
        e = this.file(childAbs, rel === '' ? name : `${rel}/${name}`, name, st, prev, k >= 0 ? old!.inodes[k] : 0);
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
      entries.push(prev && prev !== e && k >= 0 && old!.inodes[k] === ino && sameEntry(prev, e) ? prev : e);
      // A file modified in the last moments before this scan may still be
      // changing within the same mtime tick: its hash is not trusted next time.
      inos.push(ino && st.mtimeMs < this.racyAfter ? ino : 0);
    }
    const id = this.finish(rel, old, was, entries, inos);
    if ((old?.committed ?? '') !== id) {
      for (const b of blobs) {
        if (known.has(b.id) || this.offered.has(b.id)) continue;
        this.offered.add(b.id);
        this.r.offered++;
        this.hooks.onCandidate?.(b);
      }
    }
    const wait = this.hooks.pause?.();
    if (wait) yield wait;
    return id;
  }

  /** The folder's id (the cached one when every entry is the cached object, else its hash); writes its record. */
  private finish(
    rel: string,
    old: CachedDir | undefined,
    was: TreeEntry[] | undefined,
    entries: TreeEntry[],
    inos: number[],
  ): string {
    const seq = this.out.count;
    const committed = old?.committed ?? '';
    if (old && was && was.length === entries.length && entries.every((e, i) => e === was[i])) {
      this.out.same(old);
      if (committed !== old.id) this.changed(old.id, old.tree, seq);
      return old.id;
    }
    const text = serializeTree(entries);
    const id = treeId(text);
    this.out.put(rel, id, text, inos, committed);
    if (committed !== id) this.changed(id, text, seq);
    return id;
  }

  private changed(id: string, text: string, seq: number): void {
    this.r.changedFolders++;
    if (this.trees.has(id)) return;
    this.trees.add(id);
    this.hooks.onTree?.(id, text, seq);
  }
}

function newResult(source: string, dir: string, cacheFile: string, server: string): ScanResult {
  return {
    source,
    dir,
    root: '',
    cacheFile,
    server,
    folders: 0,
    changedFolders: 0,
    offered: 0,
    files: 0,
    bytes: 0,
    hashedFiles: 0,
    hashedBytes: 0,
    hashed: [],
    warnings: [],
    cacheDirty: false,
    wasCommitted: false,
  };
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
  const old = new CacheReader(cacheFile, server);
  const out = new CacheWriter(cacheFile, server, old);
  // Committed tree ids say what *this* server has; for another server, start over.
  if (!old.forServer) out.diverge();
  const r = newResult(source, dir, cacheFile, server);
  return { r, old, out, walk: new Scanner(r, old, out, excludes, hooks).dir(dir, '') };
}

/** Ends a scan: the new cache file in place when it differs from the old one. */
function done(r: ScanResult, old: CacheReader, out: CacheWriter): ScanResult {
  if (!out.diverged && !(old.skipped === 0 && old.taken === out.count && old.trailer?.folders === out.count))
    out.diverge();
  r.folders = out.count;
  r.cacheDirty = out.diverged;
  r.wasCommitted = !out.diverged && old.allCommitted && old.trailer?.root === r.root;
  out.finish(r.root);
  old.close();
  return r;
}

type Walk = ReturnType<typeof startScan>;

function fail(w: Walk, e: unknown): never {
  w.out.abort();
  w.old.close();
  throw e;
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
  const w = startScan(source, dir, cacheFile, server, excludes, hooks);
  try {
    let step = w.walk.next();
    for (; !step.done; step = w.walk.next()) await step.value;
    w.r.root = step.value;
  } catch (e) {
    fail(w, e);
  }
  return done(w.r, w.old, w.out);
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
  const w = startScan(source, dir, cacheFile, server, excludes, { ...hooks, pause: undefined });
  try {
    let step = w.walk.next();
    while (!step.done) step = w.walk.next();
    w.r.root = step.value;
  } catch (e) {
    fail(w, e);
  }
  return done(w.r, w.old, w.out);
}

/** Every tree of a finished scan, by id, read back from its cache file (a server-side ingest, tests). */
export function allTrees(r: ScanResult): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of readCache(r.cacheFile, r.server)) out[d.id] = d.tree;
  return out;
}

/**
 * Every file blob a finished scan's trees name, once each, with where to
 * read it (from its cache file, one folder at a time).
 */
export function* scanBlobs(
  r: ScanResult,
  seen: { has(id: string): boolean; add(id: string): void } = new Set(),
): Generator<BlobRef> {
  for (const d of readCache(r.cacheFile, r.server)) {
    const base = d.rel === '' ? r.dir : `${r.dir}/${d.rel}`;
    for (const e of (JSON.parse(d.tree) as { e: TreeEntry[] }).e) {
      if (!isBlobEntry(e) && !isChunkedEntry(e)) continue;
      const path = `${base}/${entryName(e)}`;
      const mtime = entryMtime(e);
      if (isBlobEntry(e)) {
        if (!seen.has(entryRef(e))) {
          seen.add(entryRef(e));
          yield { id: entryRef(e), path, size: entrySize(e), mtime };
        }
        continue;
      }
      let offset = 0;
      for (const [id, size] of blobsOf(e)) {
        if (!seen.has(id)) {
          seen.add(id);
          yield { id, path, size, mtime, offset, fileSize: entrySize(e) };
        }
        offset += size;
      }
    }
  }
}
