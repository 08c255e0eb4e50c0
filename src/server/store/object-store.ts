/**
 * object-store — the one interface between the server and where its durable
 * objects live. Keys are '/'-separated strings relative to the store:
 *
 *   pool/ab/<sha256>                         file contents (blobs)
 *   trees/ab/<sha256>                        directory listings
 *   users/<SN>/<source>-<stamp>/snapshot.json snapshot records
 *
 * Nothing above this interface renames, links or builds a path for those
 * keys. The local filesystem (local-store.ts) is the embedded default; an
 * S3-compatible store plugs in by implementing the asynchronous core.
 *
 * Contract of every implementation:
 *  - putIfAbsent() and putFile() make an object visible under its key only
 *    when all its bytes are durable (no half object is ever listed or read).
 *  - stage() + flush() + publish() is the batch form: stage writes bytes
 *    somewhere invisible, one flush() makes everything staged so far durable,
 *    publish() makes the staged objects visible in the order given (callers
 *    publish children before parents).
 *  - touch() marks an object in use now (its modification time); the GC
 *    never deletes an object touched at or after its horizon (sweep()).
 *  - list() yields keys under a prefix (paged underneath; no order promised).
 *
 * `sync` is the local fast path: synchronous stat/touch/read and
 * reads into a caller's buffer, used by the commit's checks, the indexer and
 * the restore's blob frames, which are synchronous and hot today. A store
 * without it (S3) serves the asynchronous core only — enough for a replica;
 * serving backups from it needs those readers made asynchronous first.
 */
import type { Readable } from 'node:stream';

export interface ObjectStat {
  size: number;
  mtimeMs: number;
}

export interface ObjectInfo {
  key: string;
}

/** Bytes [start, end) of an object (end defaults to its size). */
export interface ByteRange {
  start: number;
  end?: number;
}

/** An object written but not yet visible (opaque outside its store). */
export interface StagedObject {
  key: string;
  tmp: string;
}

/** An open object for repeated reads at positions (the local fast path). */
export interface ObjectReader {
  read(buf: Buffer, offset: number, length: number, position: number): number;
  close(): void;
}

export interface SyncObjectAccess {
  stat(key: string): ObjectStat | null;
  /** Marks the object in use now; its size, or -1 when absent. */
  touch(key: string): number;
  read(key: string): Buffer;
  open(key: string): ObjectReader;
  list(prefix: string, pick?: (folder: string) => boolean): Iterable<ObjectInfo>;
  /**
   * Points `alias` (a key's last part, e.g. datastore-latest) at a sibling
   * folder name: the local store keeps a symlink for people and rsync clients.
   */
  setAlias(folderKey: string, alias: string, target: string): void;
}

export interface ObjectStore {
  /** Where it is, for messages. */
  readonly location: string;
  /** Writes an object unless its key exists; true when written. */
  putIfAbsent(key: string, data: Buffer | string | readonly Buffer[]): Promise<boolean>;
  /** Moves a finished temp file (from scratchPath()) in under `key`; a present key is replaced. */
  putFile(key: string, tempPath: string): Promise<void>;
  get(key: string, range?: ByteRange): Readable;
  stat(key: string): Promise<ObjectStat | null>;
  touch(key: string): Promise<number>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes an object; false when it was absent. */
  delete(key: string): Promise<boolean>;
  /**
   * Removes a folder key and every object under it (a snapshot folder
   * users/<SN>/<name>, or a laptop's users/<SN>); false when it was absent.
   * Crash-safe: the whole folder stops being listed or read in one atomic
   * step first (a snapshot is then either whole or gone, never half), and
   * only then are its objects removed; a crash in between leaves nothing
   * visible, and the leftovers are removed by removeLeftovers(). (An object
   * store without renames deletes the record, e.g. snapshot.json, first.)
   */
  deleteFolder(folderKey: string): Promise<boolean>;
  /** Removes what crashed deleteFolder() calls left under a folder key; how many. */
  removeLeftovers(folderKey: string): number;

  stage(key: string, parts: readonly Buffer[]): Promise<StagedObject>;
  flush(): Promise<void>;
  publish(staged: readonly StagedObject[]): Promise<void>;
  discard(staged: ReadonlyArray<{ tmp: string }>): void;

  /**
   * GC: deletes `key` unless it was touched at or after `horizonMs`; its
   * size when deleted (or would be, dryRun), else -1. `guarded`: another
   * process may touch concurrently, so the store re-checks after hiding it.
   */
  sweep(key: string, horizonMs: number, opts: { dryRun: boolean; guarded: boolean }): Promise<number>;
  /** Puts back objects a crashed sweep had hidden; how many. */
  recoverSweeps(): number;

  /** A local file path for bytes on their way in (resumable parts, copies); not an object. */
  scratchPath(name: string): string;
  /** The local folder scratchPath() names its files in (the cleanup expires abandoned parts there). */
  readonly scratchDir: string;
  /** Removes temp files a crash left (keeps resumable parts). */
  cleanScratch(): void;

  readonly sync?: SyncObjectAccess;
}

const HEX64 = /^[0-9a-f]{64}$/;

export const blobKey = (id: string): string => `pool/${id.slice(0, 2)}/${id}`;
export const treeKey = (id: string): string => `trees/${id.slice(0, 2)}/${id}`;
export const snapshotFolderKey = (serial: string, name: string): string => `users/${serial}/${name}`;
export const snapshotKey = (serial: string, name: string): string => `${snapshotFolderKey(serial, name)}/snapshot.json`;
/** A laptop's folder: its snapshot records and account files (restore code). */
export const userKey = (serial: string): string => `users/${serial}`;

/** The id at the end of a pool or trees key, or null. */
export function idOfKey(key: string): string | null {
  const id = key.slice(key.lastIndexOf('/') + 1);
  return HEX64.test(id) ? id : null;
}

/** The sync fast path, or a clear error naming what needs it. */
export function needSync(store: ObjectStore, what: string): SyncObjectAccess {
  if (!store.sync) throw new Error(`${what} needs a local object store; ${store.location} has no synchronous access`);
  return store.sync;
}

/** A whole (small) object's bytes. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
