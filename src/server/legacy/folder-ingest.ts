/**
 * folder-ingest — turns plain folders on the server (a legacy laptop's
 * `datastore-current` after its rsync, or an old server's dated copies) into
 * snapshots exactly like a native commit.
 *
 * The folders are scanned with the agent's own scanner (src/agent/scan.ts:
 * same canonical trees, same datastore exclusions, symlinks kept as links,
 * never followed), with a server-side hash cache per serial and source
 * (`<root>/legacy/cache/<SN>/<source>.json`, path + size + mtime + inode) so
 * an unchanged file is not read again. Every file hashed in this run is
 * read once more through a confined descriptor (see freshlyHashed) before
 * its hash may enter a snapshot. Every blob the pool lacks is COPIED
 * (never hard-linked: the laptop's Unix account owns those files and could
 * change them later): opened with O_NOFOLLOW, checked to be a regular file
 * whose real path (/proc/self/fd) is still inside the folder being ingested,
 * hashed while copied, and refused when the bytes no longer match the scan
 * (the laptop changed it meanwhile → `conflict`, the caller rescans).
 * Copies are staged, flushed with one syncfs, published, and then the same
 * ingest.commit() a native client reaches writes the trees, the snapshot
 * folders, `-latest` and the catalog rows. The files are physically on the
 * server in the laptop's own folders (read through a confined descriptor, or
 * matched by a hash cache this server wrote after reading them), so every
 * blob the new trees name counts as the account's own (catalog/ownership.ts)
 * without a challenge.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  lstatSync,
  readdirSync,
  mkdirSync,
  openSync,
  readlinkSync,
  realpathSync,
  writeSync,
  constants,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { sha256Hex } from '../../protocol/hash.js';
import { AppError } from '../../platform/errors.js';
import { allTrees, DATASTORE_EXCLUDES, scanBlobs, scanSource, type ScanResult } from '../../snapshot/scan.js';
import type { DeviceRow } from '../catalog/catalog.js';
import { owns } from '../catalog/refs.js';
import { commit } from '../ingest/ingest.js';
import { grantOwnership } from '../catalog/ownership.js';
import { blobsOf, readTrustedTree } from '../../protocol/tree.js';
import type { SnapshotInfo } from '../store/snapshots.js';
import type { Store } from '../store/store.js';
import { blobKey, type StagedObject } from '../store/object-store.js';
import { unlessMissing } from '../../platform/fs-errors.js';
import { hashFd } from '../../platform/file-hash.js';

export interface FolderSource {
  source: string;
  dir: string;
  excludes: Set<string>;
}

/** What a legacy client rsyncs into its home, and the source each becomes. */
export const LEGACY_FOLDERS: ReadonlyArray<{ source: string; folder: string; excludes: Set<string> }> = [
  { source: 'datastore', folder: 'datastore-current', excludes: DATASTORE_EXCLUDES },
  { source: 'documents', folder: 'documents', excludes: new Set() },
  { source: 'power-logs', folder: 'power-logs', excludes: new Set() },
];

/**
 * The legacy folders to snapshot under a home: real directories (not links);
 * `documents` and `power-logs` only when not empty or already snapshotted
 * before (setup creates them empty, and most old laptops never send them).
 */
export function legacySources(home: string): FolderSource[] {
  return LEGACY_FOLDERS.filter((f) => {
    try {
      const dir = join(home, f.folder);
      if (!lstatSync(dir).isDirectory()) return false;
      return f.source === 'datastore' || readdirSync(dir).length > 0 || existsSync(join(home, `${f.source}-latest`));
    } catch (e) {
      unlessMissing(e); // the laptop never sent this folder
      return false;
    }
  }).map((f) => ({ source: f.source, dir: join(home, f.folder), excludes: f.excludes }));
}

/**
 * Reads one file through a confined descriptor: O_NOFOLLOW, a regular file,
 * its real path (/proc/self/fd) inside `confine`, the inode the scan saw
 * (when given), and bytes hashing to `expect`. With `copy`, the bytes go to
 * a pool temp file whose path is returned. Any mismatch is a `conflict`.
 */
export function confinedRead(
  store: Store,
  path: string,
  confine: string,
  expect: string,
  opts: { copy: boolean; ino?: number },
): string | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    throw new AppError('conflict', `cannot open ${path}: ${(e as Error).message}`);
  }
  const tmp = opts.copy ? store.pool.tempPath('legacy') : null;
  let out = -1;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new AppError('conflict', `${path} is no longer a regular file`);
    if (opts.ino !== undefined && st.ino !== opts.ino)
      throw new AppError('conflict', `${path} was replaced while being ingested`);
    const real = readlinkSync(`/proc/self/fd/${fd}`);
    if (!real.startsWith(confine + '/')) throw new AppError('conflict', `${path} resolves outside ${confine}`);
    if (tmp) out = openSync(tmp, 'w', 0o444);
    const { hash } = hashFd(fd, (part) => {
      let off = 0;
      while (out >= 0 && off < part.length) off += writeSync(out, part, off);
    });
    if (hash !== expect) throw new AppError('conflict', `${path} changed while it was being ingested`);
    return tmp;
  } catch (e) {
    if (out >= 0) {
      closeSync(out);
      out = -1;
      store.pool.discard([{ tmp: tmp! }]);
    }
    throw e;
  } finally {
    if (out >= 0) closeSync(out);
    closeSync(fd);
  }
}

/**
 * Files the scan hashed in this run (not cache hits): the scanner read them
 * by path, which a laptop racing its own folder could redirect (a folder
 * swapped for a link after it was listed). Each is read again through a
 * confined descriptor before its hash may enter a snapshot, so a tree can
 * name only content that really was inside the folder. Cache hits match a
 * path, size, mtime AND inode verified by an earlier run.
 */
function freshlyHashed(
  scan: ScanResult,
): Array<{ rel: string; ino: number; hash: string; size: number; inline: boolean }> {
  // Tiny files are kept inline in the tree (their ref is the content): verify, never copy.
  return scan.hashed.map((f) => ({
    rel: f.rel,
    ino: f.ino,
    size: f.size,
    inline: f.inline,
    hash: f.inline ? sha256Hex(Buffer.from(f.ref, 'base64')) : f.ref,
  }));
}

export interface IngestOptions {
  /** Snapshot time (import keeps the old folder's date). */
  now?: Date;
  runId?: string;
  /** Ignore the hash cache (after a conflict). */
  rehash?: boolean;
}

export interface IngestResult {
  snapshots: SnapshotInfo[];
  files: number;
  hashedFiles: number;
  copiedBlobs: number;
  copiedBytes: number;
}

function cacheFile(store: Store, serial: string, source: string): string {
  const dir = join(store.root, 'legacy', 'cache', serial);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return join(dir, `${source}.json`);
}

/** The scan's trees the account does not already hold (unchanged folders cost nothing). */
async function newTrees(store: Store, device: DeviceRow, scan: ScanResult): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [id, text] of Object.entries(allTrees(scan))) {
    if (!(owns(store.db, device.account_id, id) && (await store.pool.hasTree(id)))) out[id] = text;
  }
  return out;
}

/** Every blob (whole file or chunk) the trees name. */
function namedBlobs(trees: Array<Record<string, string>>): Set<string> {
  const out = new Set<string>();
  for (const t of trees)
    for (const text of Object.values(t))
      for (const e of readTrustedTree(text).e) for (const [id] of blobsOf(e)) out.add(id);
  return out;
}

async function ingestOnce(
  store: Store,
  device: DeviceRow,
  sources: FolderSource[],
  opts: IngestOptions,
): Promise<IngestResult> {
  const scans = sources.map((s) => {
    const cache = cacheFile(store, device.serial, s.source);
    return {
      scan: scanSource(s.source, s.dir, cache, 'legacy', s.excludes, { keepHashed: true, rehash: opts.rehash }),
      cache,
    };
  });
  const staged: StagedObject[] = [];
  const seen = new Set<string>();
  let copiedBytes = 0;
  const take = async (path: string, confine: string, id: string, size: number, ino?: number, inline = false) => {
    const copy = !inline && !seen.has(id) && (await store.pool.blobSize(id)) < 0;
    const tmp = confinedRead(store, path, confine, id, { copy, ino });
    if (tmp) {
      seen.add(id);
      staged.push({ tmp, key: blobKey(id) });
      copiedBytes += size;
    }
  };
  try {
    for (const { scan } of scans) {
      const confine = realpathSync(scan.dir);
      for (const f of freshlyHashed(scan)) await take(join(scan.dir, f.rel), confine, f.hash, f.size, f.ino, f.inline);
      // Cache hits whose blob is gone from the pool (collected meanwhile).
      for (const b of scanBlobs(scan))
        if (!seen.has(b.id) && (await store.pool.blobSize(b.id)) < 0) await take(b.path, confine, b.id, b.size);
    }
    if (staged.length) {
      await store.pool.flush();
      await store.pool.publish(staged);
    }
  } catch (e) {
    store.pool.discard(staged);
    throw e;
  }
  const runId = opts.runId ?? randomBytes(8).toString('hex');
  const commits = [];
  for (const { scan } of scans)
    commits.push({ source: scan.source, root: scan.root, trees: await newTrees(store, device, scan) });
  grantOwnership(store.db, device.account_id, namedBlobs(commits.map((c) => c.trees)));
  const snapshots = await commit(store, device, commits, runId, opts.now);
  return {
    snapshots,
    files: scans.reduce((n, s) => n + s.scan.files, 0),
    hashedFiles: scans.reduce((n, s) => n + s.scan.hashedFiles, 0),
    copiedBlobs: staged.length,
    copiedBytes,
  };
}

/** Ingests folders as one commit; a file changed underneath → one full rescan. */
export async function ingestFolders(
  store: Store,
  device: DeviceRow,
  sources: FolderSource[],
  opts: IngestOptions = {},
): Promise<IngestResult> {
  if (!sources.length) throw new AppError('not_found', `nothing to ingest for ${device.serial}`);
  try {
    return await ingestOnce(store, device, sources, opts);
  } catch (e) {
    if (!(e instanceof AppError) || e.code !== 'conflict') throw e;
    return ingestOnce(store, device, sources, { ...opts, rehash: true });
  }
}
