/**
 * gc — deletes trees and blobs that nothing references any more.
 *
 * Mark: the caller passes the ids reachable from every snapshot root and pin
 * (refs.ts, walked from the disk). Sweep: every unmarked tree, then every
 * unmarked blob, is deleted. A daily run considers only the references
 * accounts just dropped (`candidates`); a full sweep (weekly, see
 * cleanup.ts) lists the whole store and also finds uploads never committed.
 * Unreachable objects are deleted — trees first and parents before children, so a
 * crash at any instant leaves no tree whose child is gone.
 *
 * Safe while backups run (the "claim" protocol): whenever the server tells a
 * client an object exists — `missing` answers, duplicate uploads, subtrees a
 * commit reuses, trees re-published — it first sets that file's mtime to now
 * (Pool.claimBlob/claimTree; absent = "missing"). GC never deletes an object
 * whose mtime is at or after the horizon = min(start of this GC, grant time
 * of the oldest live lease) − slack, and treats such unreachable trees as
 * roots (their whole closure stays). A client told "present" holds a lease
 * granted before that claim, so its objects stay until its lease ends.
 * Live leases come from the running server: in-process from Admission, from
 * a separate `cleanup` process through <root>/run/leases.json, which `serve`
 * rewrites before answering every lease grant and release.
 * The deletion itself is the object store's sweep(): locally, in the
 * server's own process lstat and unlink run with no request in between;
 * when another process (a running `serve`) may claim concurrently, a victim
 * is renamed into gc-trash/ first, its mtime read again there (a claim that
 * landed in between shows), and only then unlinked — or renamed back. A
 * crash leaves files in gc-trash/; the next run puts them back (recoverSweeps)
 * and decides again.
 */
import { readFileSync } from 'node:fs';
import { blobKey, idOfKey, treeKey } from '../store/object-store.js';
import { processAlive } from '../../platform/system.js';
import { join } from 'node:path';
import { entryRef, isDirEntry, readTrustedTree } from '../../protocol/tree.js';
import { AppError } from '../../platform/errors.js';
import { closure, IdSet } from './refs.js';
import type { Store } from '../store/store.js';

export interface GcOptions {
  dryRun?: boolean;
  /** Grant times of live leases known in this process. */
  leaseGrants?: number[];
  /** Milliseconds subtracted from the horizon for coarse file timestamps (default 2000). */
  slackMs?: number;
  yieldEvery?: number;
  /** Always use the rename-and-recheck path (tests). */
  forceTrash?: boolean;
  /**
   * Only these ids can be garbage (the references accounts just dropped):
   * no listing of the whole pool. Without it, every stored object is
   * considered (the full sweep, which also finds uploads never committed).
   */
  candidates?: Iterable<string>;
}

export interface GcResult {
  trees: number;
  blobs: number;
  bytes: number;
  protectedTrees: number;
  protectedBlobs: number;
  restoredFromTrash: number;
  horizon: number;
  full: boolean;
}

const yieldNow = () => new Promise<void>((r) => setImmediate(r));

/** Stored objects under pool/ or trees/, with their ids. */
async function* listIds(store: Store, prefix: string): AsyncGenerator<{ key: string; id: string }> {
  for await (const { key } of store.objects.list(prefix)) {
    const id = idOfKey(key);
    if (id) yield { key, id };
  }
}

export interface LeaseFile {
  pid: number;
  updatedAt: number;
  grants: number[];
  /** Serials of the laptops holding those leases (their resumable uploads stay; parts.ts). */
  serials?: string[];
}

export function leaseFilePath(root: string): string {
  return join(root, 'run', 'leases.json');
}

/**
 * A running `serve` on this root in another process: its live leases' grant
 * times and serials (undefined: a file that does not list them). No file:
 * none. A file that cannot be read or parsed fails closed (state_damaged):
 * guessing "no server" could delete what an in-flight backup was promised.
 */
export function foreignServer(root: string): { grants: number[]; serials?: string[] } | null {
  const path = leaseFilePath(root);
  let f: LeaseFile;
  try {
    f = JSON.parse(readFileSync(path, 'utf8')) as LeaseFile;
    if (!Number.isInteger(f.pid) || !Array.isArray(f.grants) || !f.grants.every(Number.isFinite))
      throw new Error('not {pid, grants: [...]}');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AppError(
      'state_damaged',
      `lease file ${path} cannot be read (${(e as Error).message}); nothing was collected. A running ` +
        "'ds-backup-server serve' rewrites it at its next lease; if none runs on this store, delete the file.",
    );
  }
  return f.pid !== process.pid && processAlive(f.pid) ? { grants: f.grants, serials: f.serials } : null;
}

/** Deletes unclaimed objects through the object store (which hides, re-checks and unlinks when guarded). */
export class Sweeper {
  constructor(
    private readonly store: Store,
    readonly horizon: number,
    private readonly dryRun: boolean,
    /** Another process may claim objects concurrently (hide, re-check, then delete). */
    private readonly guarded = true,
  ) {}

  /** Claimed at or after the horizon (or absent: nothing to delete). */
  async fresh(key: string): Promise<boolean> {
    const objects = this.store.objects;
    const st = objects.sync ? objects.sync.stat(key) : await objects.stat(key);
    return !st || st.mtimeMs >= this.horizon;
  }

  /** Deletes one object unless it was claimed; returns its size when deleted, else -1. */
  sweep(key: string): Promise<number> {
    return this.store.objects.sweep(key, this.horizon, { dryRun: this.dryRun, guarded: this.guarded });
  }

  /** Puts back whatever a crashed run left hidden. */
  restoreTrash(): number {
    return this.store.objects.recoverSweeps();
  }
}

/** Candidate trees ordered parents first (Kahn over the candidates' own edges). */
async function parentsFirst(store: Store, candidates: string[]): Promise<string[]> {
  const set = new Set(candidates);
  const indeg = new Map(candidates.map((id) => [id, 0]));
  const kids = new Map<string, string[]>();
  for (const id of candidates) {
    let ks: string[] = [];
    try {
      ks = readTrustedTree(await store.pool.readTree(id))
        .e.filter((e) => isDirEntry(e) && set.has(entryRef(e)))
        .map((e) => entryRef(e));
    } catch {
      /* an unreachable candidate that cannot be parsed has no known children: it goes in any order */
    }
    kids.set(id, ks);
    for (const k of ks) indeg.set(k, indeg.get(k)! + 1);
  }
  const out: string[] = [];
  const queue = candidates.filter((id) => indeg.get(id) === 0);
  while (queue.length) {
    const id = queue.pop()!;
    out.push(id);
    for (const k of kids.get(id)!) {
      const d = indeg.get(k)! - 1;
      indeg.set(k, d);
      if (d === 0) queue.push(k);
    }
  }
  return out;
}

export async function collectGarbage(store: Store, marked: IdSet, opts: GcOptions = {}): Promise<GcResult> {
  const start = Date.now();
  const foreign = foreignServer(store.root);
  const grants = [...(opts.leaseGrants ?? []), ...(foreign?.grants ?? [])];
  const horizon = Math.min(start, ...grants) - (opts.slackMs ?? 2000);
  const sw = new Sweeper(store, horizon, Boolean(opts.dryRun), opts.forceTrash || foreign !== null);
  const every = opts.yieldEvery ?? 2000;
  const result: GcResult = {
    trees: 0,
    blobs: 0,
    bytes: 0,
    protectedTrees: 0,
    protectedBlobs: 0,
    restoredFromTrash: opts.dryRun ? 0 : sw.restoreTrash(),
    horizon,
    full: !opts.candidates,
  };
  let n = 0;
  // Trees: claimed (fresh) unreachable trees become roots; the rest are candidates.
  const candidates: string[] = [];
  const freshRoots: string[] = [];
  const blobCandidates: string[] = [];
  const trees = opts.candidates ? [] : listIds(store, 'trees/');
  if (opts.candidates) {
    for (const id of new Set(opts.candidates)) {
      if (marked.has(id)) continue;
      if (!(await store.pool.hasTree(id))) blobCandidates.push(id);
      else if (await sw.fresh(treeKey(id))) freshRoots.push(id);
      else candidates.push(id);
    }
  }
  for await (const f of trees) {
    if (++n % every === 0) await yieldNow();
    if (marked.has(f.id)) continue;
    if (await sw.fresh(f.key)) freshRoots.push(f.id);
    else candidates.push(f.id);
  }
  for (const id of freshRoots) {
    // A claimed tree keeps its whole closure; a child that cannot be read does not stop the walk.
    for (const x of (await closure(store, [id], [], true)).sizes.keys()) marked.add(x);
    result.protectedTrees++;
  }
  for (const id of await parentsFirst(
    store,
    candidates.filter((id) => !marked.has(id)),
  )) {
    if (++n % every === 0) await yieldNow();
    const size = await sw.sweep(treeKey(id));
    if (size >= 0) {
      result.trees++;
      result.bytes += size;
    } else result.protectedTrees++;
  }
  const blobs = opts.candidates ? blobCandidates.map((id) => ({ id, key: blobKey(id) })) : listIds(store, 'pool/');
  for await (const f of blobs) {
    if (++n % every === 0) await yieldNow();
    if (marked.has(f.id)) continue;
    const size = await sw.sweep(f.key);
    if (size >= 0) {
      result.blobs++;
      result.bytes += size;
    } else result.protectedBlobs++;
  }
  return result;
}
