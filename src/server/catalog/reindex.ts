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
import { walkTrees } from '../store/tree-walk.js';

export interface ReindexResult {
  devices: number;
  snapshots: number;
  entries: number;
  skipped: string[];
}

/** All trees reachable from a root that the account does not reference yet. */
function unreferencedTrees(store: Store, accountId: number, root: string): Map<string, { text: string; tree: Tree }> {
  const out = new Map<string, { text: string; tree: Tree }>();
  walkTrees([root], (id) => {
    if (owns(store.db, accountId, id)) return null;
    const text = store.pool.readTree(id);
    const tree = readTrustedTree(text);
    out.set(id, { text, tree });
    return tree;
  });
  return out;
}

function indexSnapshots(store: Store, infos: SnapshotInfo[], result: ReindexResult): void {
  infos.sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : 1));
  const src = store.treeSource();
  for (const info of infos) {
    const dev = store.registry.bySerial(info.serial);
    if (!dev) {
      result.skipped.push(`${info.serial}/${info.name}: no device record`);
      continue;
    }
    try {
      const trees = unreferencedTrees(store, dev.account_id, info.root);
      indexSnapshot(store.db, src, info, { accountId: dev.account_id, deviceId: dev.id }, trees);
      result.snapshots++;
    } catch (e) {
      result.skipped.push(`${info.serial}/${info.name}: ${(e as Error).message}`);
    }
  }
}

function loadDevices(store: Store, result: ReindexResult): SnapshotInfo[] {
  const infos: SnapshotInfo[] = [];
  for (const serial of store.serials()) {
    const rec = store.registry.readRecord(serial);
    if (!rec) continue;
    store.registry.index(rec);
    result.devices++;
    for (const name of listSnapshotNames(store.objects, serial)) {
      let info;
      try {
        info = readSnapshot(store.objects, serial, name);
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

export function reindex(store: Store): ReindexResult {
  const result: ReindexResult = { devices: 0, snapshots: 0, entries: 0, skipped: [] };
  clearIndex(store.db);
  indexSnapshots(store, loadDevices(store, result), result);
  result.entries = entryCount(store.db);
  new Pins(store).reload();
  return result;
}

/** Snapshot folders on disk (with a readable snapshot.json) that the catalog does not know. */
export function unindexedSnapshots(store: Store): SnapshotInfo[] {
  const known = snapshotNames(store.db);
  const out: SnapshotInfo[] = [];
  for (const serial of store.serials()) {
    for (const name of listSnapshotNames(store.objects, serial)) {
      if (known.has(`${serial}/${name}`)) continue;
      const info = readSnapshot(store.objects, serial, name);
      if (info) out.push(info);
    }
  }
  return out;
}

/** Indexes snapshot folders that reached the disk but not the catalog. */
export function syncMissing(store: Store): number {
  const fresh = unindexedSnapshots(store);
  if (!fresh.length) return 0;
  const result: ReindexResult = { devices: 0, snapshots: 0, entries: 0, skipped: [] };
  indexSnapshots(store, fresh, result);
  return result.snapshots;
}
