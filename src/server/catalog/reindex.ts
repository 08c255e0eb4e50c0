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
import { recordSnapshot, referenceTrees } from './snapshot-index.js';
import type { Store } from '../store/store.js';
import { readTrustedTree, type Tree } from '../../protocol/tree.js';

export interface ReindexResult {
  devices: number;
  snapshots: number;
  entries: number;
  skipped: string[];
}

/** All trees reachable from a root that the account does not reference yet. */
function unreferencedTrees(store: Store, accountId: number, root: string): Map<string, { text: string; tree: Tree }> {
  const has = store.db.prepare('SELECT 1 FROM account_blobs WHERE account_id = ? AND id = ?');
  const out = new Map<string, { text: string; tree: Tree }>();
  const stack = [root];
  while (stack.length) {
    const id = stack.pop()!;
    if (out.has(id) || has.get(accountId, id)) continue;
    const text = store.pool.readTree(id);
    const tree = readTrustedTree(text);
    out.set(id, { text, tree });
    for (const e of tree.e) if (e[1] === 'd') stack.push(e[5]);
  }
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
      store.db.transaction(() => {
        referenceTrees(store.db, dev.account_id, unreferencedTrees(store, dev.account_id, info.root));
        recordSnapshot(store.db, src, info, { accountId: dev.account_id, deviceId: dev.id });
      })();
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
    const dir = store.userDir(serial);
    for (const name of listSnapshotNames(dir)) {
      let info;
      try {
        info = readSnapshot(dir, name);
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
  store.db.transaction(() => clearIndex(store.db))();
  indexSnapshots(store, loadDevices(store, result), result);
  result.entries = (store.db.prepare('SELECT count(*) AS n FROM entries').get() as { n: number }).n;
  new Pins(store).reload();
  return result;
}

/** Snapshot folders on disk (with a readable snapshot.json) that the catalog does not know. */
export function unindexedSnapshots(store: Store): SnapshotInfo[] {
  const known = new Set(store.db.prepare("SELECT serial || '/' || name FROM snapshots").pluck().all() as string[]);
  const out: SnapshotInfo[] = [];
  for (const serial of store.serials()) {
    const dir = store.userDir(serial);
    for (const name of listSnapshotNames(dir)) {
      if (known.has(`${serial}/${name}`)) continue;
      const info = readSnapshot(dir, name);
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
