/**
 * ingest — turns what a client sends into durable snapshots.
 *
 * commit(): the client sends, per source, the root tree id and the trees the
 * server may not have (the delta: unchanged subtrees keep their ids and are
 * not sent). Every tree is hashed here and parsed by parseTree; every file it
 * names must already be in the pool with the declared size; every subtree not
 * sent must already be referenced by this account. Only then are trees
 * staged, flushed together with all blobs uploaded before (one syncfs),
 * published, and the snapshot folder written; the catalog follows.
 * Nothing is written when any check fails.
 */
import { AppError } from '../../platform/errors.js';
import { SOURCE_RE } from '../../protocol/names.js';
import {
  entryName,
  entryRef,
  blobsOf,
  isDirEntry,
  parseTree,
  readTrustedTree,
  type Tree,
  treeId,
} from '../../protocol/tree.js';
import type { DeviceRow } from '../catalog/catalog.js';
import { allocateName, writeSnapshot, type SnapshotInfo } from '../store/snapshots.js';
import { indexSnapshot, treeStats } from '../catalog/snapshot-index.js';
import { accountKey } from '../catalog/devices.js';
import { owns } from '../catalog/refs.js';
import { ownsBlob, settleOwnership } from '../catalog/ownership.js';
import type { Store } from '../store/store.js';
import type { StashedTree } from './tree-stash.js';
import { treeKey } from '../store/object-store.js';
import { walkTrees } from '../store/tree-walk.js';
import { checkCommitDepth } from './tree-depth.js';

export interface CommitSource {
  source: string;
  root: string;
  trees: Record<string, string>;
}

/** Trees new to the pool, by id; `tmp` when already staged (sent ahead, tree-stash.ts). */
type NewTrees = Map<string, { text: string; tree: Tree; tmp?: string }>;

const MAX_REPORTED_MISSING = 1000;

/**
 * Parses the trees reachable from the root that were sent with the commit or
 * ahead of it (`stash`: already checked and staged); unreachable ones are
 * ignored.
 */
function collectTrees(cs: CommitSource, stash: ReadonlyMap<string, StashedTree>): NewTrees {
  const sent = new Map<string, string>(Object.entries(cs.trees));
  const out: NewTrees = new Map();
  walkTrees([cs.root], (id) => {
    const text = sent.get(id);
    const early = text === undefined ? stash.get(id) : undefined;
    let t: { text: string; tree: Tree; tmp?: string };
    if (early)
      t = { text: early.text, tree: readTrustedTree(early.text), tmp: early.tmp }; // checked when it arrived
    else if (text !== undefined) {
      if (treeId(text) !== id) throw new AppError('hash_mismatch', `tree ${id} does not match its content`);
      t = { text, tree: parseTree(text) };
    } else return null;
    out.set(id, t);
    return t.tree;
  });
  return out;
}

/**
 * Checks that every child named by the new trees is available; returns what
 * is missing. Old subtrees must be this account's (the catalog) and present;
 * blobs present with the size the tree says — checked (and claimed) many at
 * a time (Pool.claimBlobs: one request each on a remote store).
 */
async function findMissing(store: Store, accountId: number, root: string, trees: NewTrees): Promise<string[]> {
  const missing = new Set<string>();
  const oldTrees = new Set<string>();
  const want = new Map<string, { size: number; name: string }>();
  if (!trees.has(root)) oldTrees.add(root);
  for (const { tree } of trees.values()) {
    for (const e of tree.e) {
      const ref = entryRef(e);
      if (isDirEntry(e)) {
        if (!trees.has(ref)) oldTrees.add(ref);
      } else {
        // One blob ('f') or each chunk ('c'): present in the pool with the size the tree says.
        for (const [id, size] of blobsOf(e)) {
          const had = want.get(id);
          if (had && had.size !== size)
            throw new AppError('invalid_manifest', `blob ${id} is listed with sizes ${had.size} and ${size}`);
          want.set(id, { size, name: entryName(e) });
        }
      }
    }
  }
  for (const id of oldTrees) if (!owns(store.db, accountId, id) || !(await store.pool.claimTree(id))) missing.add(id);
  // A blob the account neither uploaded nor proved is "missing" (issue 16 §4): nothing about the
  // pool's copy — whether it exists, its size — is said.
  const ids: string[] = [];
  for (const id of want.keys()) {
    if (ownsBlob(store.db, accountId, id)) ids.push(id);
    else missing.add(id);
  }
  const sizes = await store.pool.claimBlobs(ids);
  ids.forEach((id, i) => {
    const w = want.get(id)!;
    if (sizes[i] < 0) missing.add(id);
    else if (sizes[i] !== w.size)
      throw new AppError('invalid_manifest', `file ${w.name} says ${w.size} bytes but blob ${id} has ${sizes[i]}`);
  });
  return [...missing];
}

/**
 * The new trees in an order where every tree comes after all its new
 * subtrees (a post-order walk; iterative, as a client decides the depth).
 * Identical subtrees are common (every empty folder has the same tree), so
 * a discovery order is not enough: a second parent can be found after the
 * shared child.
 */
export function childrenFirst(trees: ReadonlyMap<string, { tree: Tree }>): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const start of trees.keys()) {
    if (seen.has(start)) continue;
    seen.add(start);
    const stack: Array<{ id: string; next: number }> = [{ id: start, next: 0 }];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const entries = trees.get(top.id)!.tree.e;
      let child: string | null = null;
      while (top.next < entries.length && child === null) {
        const e = entries[top.next++];
        if (isDirEntry(e) && trees.has(entryRef(e)) && !seen.has(entryRef(e))) child = entryRef(e);
      }
      if (child === null) {
        out.push(top.id);
        stack.pop();
      } else {
        seen.add(child);
        stack.push({ id: child, next: 0 });
      }
    }
  }
  return out;
}

export async function commit(
  store: Store,
  device: DeviceRow,
  sources: CommitSource[],
  runId: string | null,
  now = new Date(),
  stash: ReadonlyMap<string, StashedTree> = new Map(),
): Promise<SnapshotInfo[]> {
  const seen = new Set<string>();
  const parsed: Array<{ cs: CommitSource; trees: NewTrees }> = [];
  for (const cs of sources) {
    if (!SOURCE_RE.test(cs.source)) throw new AppError('bad_request', `bad source name ${JSON.stringify(cs.source)}`);
    if (seen.has(cs.source)) throw new AppError('bad_request', `source ${cs.source} given twice`);
    seen.add(cs.source);
    const trees = collectTrees(cs, stash);
    const missing = await findMissing(store, device.account_id, cs.root, trees);
    if (missing.length) {
      throw new AppError(
        'missing_blobs',
        `${missing.length} blobs or trees are missing (or not uploaded or proved by this account); upload them and commit again`,
        {
          details: { missing: missing.slice(0, MAX_REPORTED_MISSING), count: missing.length },
        },
      );
    }
    // 422 tree_too_deep, reused subtrees counted
    await store.withTrees(treeMap(trees), (src) => checkCommitDepth(store.db, src, cs.root, trees));
    parsed.push({ cs, trees });
  }

  const all = new Map(parsed.flatMap(({ trees }) => [...trees])); // a tree in two sources is staged once
  const fresh = await store.pool.stageMany(
    [...all].filter(([, t]) => !t.tmp).map(([id, t]) => ({ id, kind: 'tree' as const, data: t.text })),
  );
  const tmpOf = new Map(fresh.map((f) => [f.id, f.tmp]));
  const staged = childrenFirst(all).map((id) => ({ key: treeKey(id), tmp: all.get(id)!.tmp ?? tmpOf.get(id)! }));
  // No new tree (an unchanged backup): nothing to flush — every blob was flushed
  // before its upload was acknowledged, and two syncfs of a busy disk were most
  // of such a commit's time.
  if (staged.length) {
    try {
      await store.pool.flush();
      // Children first, so a crash mid-publish never leaves a visible tree whose child is absent.
      await store.pool.publish(staged);
    } catch (e) {
      store.pool.discard(staged);
      throw e;
    }
    await store.pool.flush();
  }
  return writeAndRecord(store, device, parsed, runId, now);
}

/** The commit's new trees, parsed, by id (what synchronous readers see before the pool). */
const treeMap = (trees: NewTrees): Map<string, Tree> => new Map([...trees].map(([id, t]) => [id, t.tree]));

async function writeAndRecord(
  store: Store,
  device: DeviceRow,
  parsed: Array<{ cs: CommitSource; trees: NewTrees }>,
  runId: string | null,
  now: Date,
): Promise<SnapshotInfo[]> {
  const account = accountKey(store.db, device.account_id);
  const out: SnapshotInfo[] = [];
  for (const { cs, trees } of parsed) {
    const extra = treeMap(trees);
    const stats = await store.withTrees(extra, (src) => treeStats(store.db, src, cs.root));
    const info: SnapshotInfo = {
      version: 1,
      serial: device.serial,
      account,
      source: cs.source,
      name: await allocateName(store.objects, device.serial, cs.source, now),
      createdAt: now.getTime(),
      root: cs.root,
      files: stats.files,
      bytes: stats.bytes,
      runId,
    };
    await writeSnapshot(store.objects, info);
    const ids = { accountId: device.account_id, deviceId: device.id };
    await store.withTrees(extra, (src) => indexSnapshot(store.db, src, info, ids, trees));
    out.push(info);
  }
  settleOwnership(store.db, device.account_id);
  return out;
}
