/**
 * scan — turns a source folder into a Merkle tree of blobs (common/tree.ts).
 *
 * Unchanged files are never read again: the hash cache remembers each
 * file's hash under its path, size, mtime and inode. The cache also keeps the
 * tree ids of the last committed snapshot per folder, so the scan can tell
 * which folders changed: only their files are offered to the server and only
 * their trees are sent (the delta). Symbolic links are recorded as links and
 * never followed; sockets, devices and fifos are skipped; unreadable files
 * are skipped with a warning. Excluded top-level names (the Journal's index,
 * flags and checksums, which Sugar rebuilds) are left out.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { compareNames, INLINE_MAX, serializeTree, treeId, type TreeEntry } from '../common/tree.js';
import { loadCache, type HashCache } from './cache.js';

export const DATASTORE_EXCLUDES = new Set(['index', 'index_updated', 'ds_clean', 'checksums']);

export interface ScanResult {
  source: string;
  dir: string;
  root: string;
  /** Every tree of the source, by id. */
  trees: Map<string, string>;
  /** Folder path ('' = the source root) → tree id. */
  dirIds: Map<string, string>;
  /** Folders whose tree differs from the last committed snapshot. */
  changedDirs: Set<string>;
  /** One readable path per distinct file blob (size and mtime as scanned, to detect later changes). */
  blobs: Map<string, { path: string; size: number; mtime: number }>;
  /** Blobs named in changed folders: what the server may lack. */
  candidates: Set<string>;
  files: number;
  bytes: number;
  hashedFiles: number;
  hashedBytes: number;
  warnings: string[];
  cache: HashCache;
  /** The file part of the cache differs from what was loaded. */
  cacheDirty: boolean;
}

const BIG = 8 * 1024 * 1024;

/**
 * Opens a regular file for reading, never through a link and never a device
 * or fifo (a file swapped for a link to /dev/zero between lstat and open
 * must not make the scan read forever — the server runs this scanner as root
 * over folders old laptops write).
 */
function openRegular(path: string): number {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new Error('no longer a regular file');
  }
  return fd;
}

export function hashFile(path: string): { hash: string; size: number } {
  const fd = openRegular(path);
  try {
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(BIG);
    let size = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, BIG, null);
      if (n === 0) break;
      h.update(n === BIG ? buf : buf.subarray(0, n));
      size += n;
    }
    return { hash: h.digest('hex'), size };
  } finally {
    closeSync(fd);
  }
}

/** One reusable read buffer: hashing thousands of small files allocates nothing per file. */
const SMALL_BUF = Buffer.allocUnsafe(BIG);

function hashSmall(path: string): { hash: string; size: number } {
  const fd = openRegular(path);
  try {
    const h = createHash('sha256');
    let size = 0;
    for (;;) {
      const n = readSync(fd, SMALL_BUF, 0, BIG, null);
      if (n === 0) break;
      h.update(SMALL_BUF.subarray(0, n));
      size += n;
    }
    return { hash: h.digest('hex'), size };
  } finally {
    closeSync(fd);
  }
}

class Scanner {
  constructor(
    readonly r: ScanResult,
    readonly old: HashCache,
    readonly excludes: Set<string>,
  ) {}

  file(abs: string, rel: string, st: Stats): TreeEntry | null {
    const mtime = st.mtimeMs;
    const hit = this.old.files[rel];
    let hash: string;
    let size: number;
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    const mode = st.mode & 0o7777;
    if (hit && hit[0] === st.size && hit[1] === mtime && hit[2] === st.ino) {
      [size, , , hash] = hit;
      this.r.cache.files[rel] = hit; // reused as is: no allocation per unchanged file
      if (size <= INLINE_MAX) return this.inline(name, mode, mtime, size, hash);
    } else if (st.size <= INLINE_MAX) {
      const bytes = this.readTiny(abs, rel);
      if (!bytes) return null;
      this.r.hashedFiles++;
      this.r.hashedBytes += bytes.length;
      if (bytes.length <= INLINE_MAX) {
        const ref = bytes.toString('base64');
        this.r.cache.files[rel] = [bytes.length, mtime, st.ino, ref];
        return this.inline(name, mode, mtime, bytes.length, ref);
      }
      try {
        ({ hash, size } = hashSmall(abs)); // grew while we looked: an ordinary blob
      } catch (e) {
        this.r.warnings.push(`skipped unreadable file ${rel}: ${(e as Error).message}`);
        return null;
      }
      this.remember(rel, size, mtime, st.ino, hash);
    } else {
      try {
        ({ hash, size } = st.size >= BIG ? hashFile(abs) : hashSmall(abs));
      } catch (e) {
        this.r.warnings.push(`skipped unreadable file ${rel}: ${(e as Error).message}`);
        return null;
      }
      this.r.hashedFiles++;
      this.r.hashedBytes += size;
      this.remember(rel, size, mtime, st.ino, hash);
    }
    if (!this.r.blobs.has(hash)) this.r.blobs.set(hash, { path: abs, size, mtime });
    this.r.files++;
    this.r.bytes += size;
    return [name, 'f', mode, mtime, size, hash];
  }

  /**
   * Caches a file's sha256. A file that changed size while it was read can
   * end up at most INLINE_MAX bytes: not cached, since a cached size that
   * small means "the ref is the content" (the next run reads it again).
   */
  private remember(rel: string, size: number, mtime: number, ino: number, hash: string): void {
    if (size > INLINE_MAX) this.r.cache.files[rel] = [size, mtime, ino, hash];
  }

  private inline(name: string, mode: number, mtime: number, size: number, ref: string): TreeEntry {
    this.r.files++;
    this.r.bytes += size;
    return [name, 'i', mode, mtime, size, ref];
  }

  /** A tiny file's bytes (never through a link), or null when unreadable. */
  private readTiny(abs: string, rel: string): Buffer | null {
    try {
      const fd = openRegular(abs);
      try {
        const n = readSync(fd, SMALL_BUF, 0, INLINE_MAX + 1, 0);
        return Buffer.from(SMALL_BUF.subarray(0, n));
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      this.r.warnings.push(`skipped unreadable file ${rel}: ${(e as Error).message}`);
      return null;
    }
  }

  dir(abs: string, rel: string): string {
    const entries: TreeEntry[] = [];
    const names = readdirSync(abs).sort(compareNames);
    for (const name of names) {
      if (rel === '' && this.excludes.has(name)) continue;
      const childAbs = join(abs, name);
      const childRel = rel === '' ? name : `${rel}/${name}`;
      let st: Stats;
      try {
        st = lstatSync(childAbs);
      } catch {
        continue; // vanished while scanning
      }
      if (st.isDirectory()) {
        try {
          entries.push([name, 'd', st.mode & 0o7777, st.mtimeMs, 0, this.dir(childAbs, childRel)]);
        } catch (e) {
          this.r.warnings.push(`skipped unreadable folder ${childRel}: ${(e as Error).message}`);
        }
      } else if (st.isFile()) {
        const e = this.file(childAbs, childRel, st);
        if (e) entries.push(e);
      } else if (st.isSymbolicLink()) {
        entries.push([name, 'l', st.mode & 0o7777, st.mtimeMs, 0, readlinkSync(childAbs)]);
        this.r.files++;
      }
    }
    const text = serializeTree(entries);
    const id = treeId(text);
    this.r.trees.set(id, text);
    this.r.dirIds.set(rel, id);
    if (this.old.committed[rel] !== id) {
      this.r.changedDirs.add(rel);
      for (const e of entries) if (e[1] === 'f') this.r.candidates.add(e[5]);
    }
    return id;
  }
}

export function scanSource(source: string, dir: string, cacheFile: string, server: string, excludes = new Set<string>()): ScanResult {
  const old = loadCache(cacheFile);
  // Committed tree ids say what *this* server has; for another server, start over.
  if (old.server !== server) old.committed = {};
  const r: ScanResult = {
    source, dir, root: '', trees: new Map(), dirIds: new Map(), changedDirs: new Set(), blobs: new Map(), candidates: new Set(),
    files: 0, bytes: 0, hashedFiles: 0, hashedBytes: 0, warnings: [], cacheDirty: false,
    cache: { v: 2, files: {}, committed: old.committed, root: old.root, server },
  };
  r.root = new Scanner(r, old, excludes).dir(dir, '');
  r.cacheDirty = r.hashedFiles > 0 || Object.keys(old.files).length !== Object.keys(r.cache.files).length;
  return r;
}

/** The trees to send with the commit: those of changed folders. */
export function newTrees(r: ScanResult): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of r.changedDirs) {
    const id = r.dirIds.get(rel)!;
    out[id] = r.trees.get(id)!;
  }
  return out;
}
