/**
 * reindex — rebuilds the catalog from the disk (device.json files, snapshot
 * folders, trees and pool), the truth. Snapshots are replayed per account and
 * source in time order through the same recordSnapshot() a live commit uses,
 * so the rebuilt catalog answers exactly as the old one did.
 * `syncMissing` indexes only snapshot folders the catalog lacks (after a
 * crash between writing a snapshot and recording it).
 */
import { isAppError } from '../../platform/errors.js';
import { clearIndex } from './catalog.js';
import { Pins } from '../retention/pins.js';
import { listSnapshotNames, readSnapshot, type SnapshotInfo } from '../store/snapshots.js';
import { indexSnapshot } from './snapshot-index.js';
import { owns } from './refs.js';
import { entryCount } from './entries.js';
import { snapshotNames } from './snapshots.js';
import type { Store } from '../store/store.js';
import { readTrustedTree, type Tree } from '../../protocol/tree.js';
import { walkTreesAsync } from '../store/tree-walk.js';

export interface ReindexResult {
  devices: number;
  snapshots: number;
  entries: number;
  skipped: string[];
}

/** All trees reachable from a root that the account does not reference yet. */
async function unreferencedTrees(
  store: Store,
  accountId: number,
  root: string,
): Promise<Map<string, { text: string; tree: Tree }>> {
  const out = new Map<string, { text: string; tree: Tree }>();
  await walkTreesAsync([root], async (id) => {
    if (owns(store.db, accountId, id)) return null;
    const text = await store.pool.readTree(id);
    const tree = readTrustedTree(text);
    out.set(id, { text, tree });
    return tree;
  });
  return out;
}

async function indexSnapshots(store: Store, infos: SnapshotInfo[], result: ReindexResult): Promise<void> {
  infos.sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : 1));
  for (const info of infos) {
    const dev = store.registry.bySerial(info.serial);
    if (!dev) {
      result.skipped.push(`${info.serial}/${info.name}: no device record`);
      continue;
    }
    try {
      const trees = await unreferencedTrees(store, dev.account_id, info.root);
      const ids = { accountId: dev.account_id, deviceId: dev.id };
      await store.withTrees(undefined, (src) => indexSnapshot(store.db, src, info, ids, trees));
      result.snapshots++;
    } catch (e) {
      result.skipped.push(`${info.serial}/${info.name}: ${(e as Error).message}`);
    }
  }
}

async function loadDevices(store: Store, result: ReindexResult): Promise<SnapshotInfo[]> {
  const infos: SnapshotInfo[] = [];
  for (const serial of store.serials()) {
    const rec = store.registry.readRecord(serial);
    if (!rec) continue;
    store.registry.index(rec);
    result.devices++;
    for (const name of await listSnapshotNames(store.objects, serial)) {
      let info;
      try {
        info = await readSnapshot(store.objects, serial, name);
      } catch (e) {
        if (!isAppError(e) || e.code !== 'state_damaged') throw e;
        info = null; // reindex reports it and goes on; the cleanup stops on it (unindexedSnapshots)
      }
      if (info) infos.push(info);
      else result.skipped.push(`${serial}/${name}: unreadable snapshot.json`);
    }
  }
  return infos;
}

export async function reindex(store: Store): Promise<ReindexResult> {
  const result: ReindexResult = { devices: 0, snapshots: 0, entries: 0, skipped: [] };
  clearIndex(store.db);
  const infos = await loadDevices(store, result);
  await indexSnapshots(store, infos, result);
  result.entries = entryCount(store.db);
  new Pins(store).reload();
  return result;
}

/** Snapshot folders on disk (with a readable snapshot.json) that the catalog does not know. */
export async function unindexedSnapshots(store: Store): Promise<SnapshotInfo[]> {
  const known = snapshotNames(store.db);
  const out: SnapshotInfo[] = [];
  for (const serial of store.serials()) {
    for (const name of await listSnapshotNames(store.objects, serial)) {
      if (known.has(`${serial}/${name}`)) continue;
      const info = await readSnapshot(store.objects, serial, name);
      if (info) out.push(info);
    }
  }
  return out;
}

/** Indexes snapshot folders that reached the disk but not the catalog. */
export async function syncMissing(store: Store): Promise<number> {
  const fresh = await unindexedSnapshots(store);
  if (!fresh.length) return 0;
  const result: ReindexResult = { devices: 0, snapshots: 0, entries: 0, skipped: [] };
  await indexSnapshots(store, fresh, result);
  return result.snapshots;
}
