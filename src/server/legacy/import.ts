/**
 * import — `ds-backup-server import-legacy <old /library/users>`: an old
 * school server's hard-linked `<SN>/datastore-YYYY-MM-DD_HH:MM` folders
 * become snapshots with their original dates.
 *
 * Each dated folder (layout 0 or 6: the catalog's reader understands both)
 * goes through folder-ingest like a live legacy backup, with createdAt =
 * the folder's name read as UTC, so the new snapshot has the very same
 * name. The per-serial hash cache makes the hard-linked unchanged files of
 * the next folder cost a stat each; identical content is stored once.
 * Idempotent: a folder whose time a datastore snapshot of the laptop already
 * has is skipped (datastoreTimes), so a second run adds nothing, whatever
 * accepted name the folder has (`_HH:MM`, `_HH:MM:SS`, a serial in any case).
 * Serials are canonical (folder shc123 → laptop SHC123); two folders
 * differing only by case are reported as errors and not imported. A serial without a device record gets one (no
 * token, no key); a later XML-RPC registration from that laptop claims it
 * (registration.ts), a native laptop needs `ds-backup-server device token`.
 * `-latest` is pointed back at the newest snapshot; when an imported folder
 * is older than a snapshot the account already had, the catalog is rebuilt
 * (reindex) so sequence numbers follow dates.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalSerial } from '../../protocol/names.js';
import { DATASTORE_EXCLUDES } from '../../snapshot/scan.js';
import type { DeviceRecord } from '../accounts/registry.js';
import { reindex } from '../catalog/reindex.js';
import { listSnapshotNames, readSnapshot } from '../store/snapshots.js';
import type { Store } from '../store/store.js';
import { newestJournalAt } from '../catalog/snapshots.js';
import { ingestFolders } from './folder-ingest.js';

const OLD_RE = /^datastore-(\d{4})-(\d{2})-(\d{2})_(\d{2}):(\d{2})(?::(\d{2}))?$/;

export interface OldFolder {
  serial: string;
  name: string;
  path: string;
  date: Date;
}

/**
 * The dated datastore folders of an old /library/users, oldest first per
 * serial (its canonical form: folder shc123 is laptop SHC123). Folders whose
 * names differ only by case are not merged: they are reported in `collisions`
 * and none of them is imported.
 */
export function findOldFolders(usersDir: string): { folders: OldFolder[]; ignored: string[]; collisions: string[] } {
  const folders: OldFolder[] = [];
  const ignored: string[] = [];
  const bySerial = new Map<string, string[]>();
  for (const folder of readdirSync(usersDir).sort()) {
    if (!lstatSync(join(usersDir, folder)).isDirectory()) continue;
    const serial = canonicalSerial(folder);
    if (!serial) ignored.push(`${folder}: not a serial number`);
    else bySerial.set(serial, [...(bySerial.get(serial) ?? []), folder]);
  }
  const collisions: string[] = [];
  for (const [serial, found] of bySerial) {
    if (found.length > 1) {
      collisions.push(`${found.join(', ')}: folders of one serial (${serial}) differing only by case; none imported`);
      continue;
    }
    const dir = join(usersDir, found[0]);
    for (const name of readdirSync(dir).sort()) {
      const m = OLD_RE.exec(name);
      if (!m) continue;
      const path = join(dir, name);
      if (!lstatSync(path).isDirectory()) continue; // datastore-latest is a link
      const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0));
      const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
      const same = [
        date.getUTCMonth() + 1,
        date.getUTCDate(),
        date.getUTCHours(),
        date.getUTCMinutes(),
        date.getUTCSeconds(),
      ];
      if (Number.isNaN(date.getTime()) || same.join() !== [mo, d, h, mi, s].join()) {
        ignored.push(`${found[0]}/${name}: not a date`);
        continue;
      }
      folders.push({ serial, name, path, date });
    }
  }
  folders.sort((a, b) => (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : a.date.getTime() - b.date.getTime()));
  return { folders, ignored, collisions };
}

export interface ImportResult {
  serials: number;
  devicesCreated: number;
  imported: number;
  skipped: number;
  files: number;
  copiedBlobs: number;
  copiedBytes: number;
  reindexed: boolean;
  ignored: string[];
  errors: string[];
}

function ensureDevice(store: Store, serial: string, createdAt: number): boolean {
  if (store.registry.bySerial(serial)) return false;
  const rec: DeviceRecord = store.registry.readRecord(serial) ?? {
    serial,
    nickname: '',
    account: serial,
    tokenHash: null,
    createdAt,
    disabled: false,
    pubkey: null,
    uuid: null,
  };
  store.registry.writeRecord(rec);
  store.registry.index(rec);
  return true;
}

/** Points <source>-latest at the newest snapshot (an import may have moved it back). */
async function fixLatest(store: Store, serial: string): Promise<void> {
  let best: { name: string; at: number } | null = null;
  for (const name of await listSnapshotNames(store.objects, serial)) {
    if (!name.startsWith('datastore-')) continue;
    const info = await readSnapshot(store.objects, serial, name);
    if (info && (!best || info.createdAt > best.at)) best = { name, at: info.createdAt };
  }
  if (best) store.objects.sync?.setAlias(`users/${serial}`, 'datastore-latest', best.name);
}

/**
 * When the laptop's datastore snapshots were taken: a folder whose time is
 * here was imported already (its snapshot may carry another name: `_10:00:00`
 * becomes `_10:00`), which makes a second run import nothing for every
 * folder name OLD_RE accepts.
 */
async function datastoreTimes(store: Store, serial: string): Promise<Set<number>> {
  const out = new Set<number>();
  for (const name of await listSnapshotNames(store.objects, serial)) {
    if (!name.startsWith('datastore-')) continue;
    const info = await readSnapshot(store.objects, serial, name);
    if (info) out.add(info.createdAt);
  }
  return out;
}

function newestCreatedAt(store: Store, serial: string): number {
  return newestJournalAt(store.db, serial);
}

export async function importLegacy(
  store: Store,
  usersDir: string,
  onProgress?: (done: number, total: number, what: string) => void,
): Promise<ImportResult> {
  const { folders, ignored, collisions } = findOldFolders(usersDir);
  const res: ImportResult = {
    serials: 0,
    devicesCreated: 0,
    imported: 0,
    skipped: 0,
    files: 0,
    copiedBlobs: 0,
    copiedBytes: 0,
    reindexed: false,
    ignored,
    errors: collisions,
  };
  const imported = new Map<string, Set<number>>();
  const serials = new Set<string>();
  let needReindex = false;
  let done = 0;
  for (const f of folders) {
    if (!serials.has(f.serial)) {
      serials.add(f.serial);
      if (ensureDevice(store, f.serial, f.date.getTime())) res.devicesCreated++;
      imported.set(f.serial, await datastoreTimes(store, f.serial));
    }
    onProgress?.(done, folders.length, `${f.serial}/${f.name}`);
    const times = imported.get(f.serial)!;
    if (times.has(f.date.getTime())) {
      res.skipped++;
    } else {
      times.add(f.date.getTime());
      try {
        if (newestCreatedAt(store, f.serial) > f.date.getTime()) needReindex = true;
        const device = store.registry.bySerial(f.serial)!;
        const r = await ingestFolders(
          store,
          device,
          [{ source: 'datastore', dir: f.path, excludes: DATASTORE_EXCLUDES }],
          { now: f.date, runId: 'import-legacy' },
        );
        res.imported += r.snapshots.length;
        res.files += r.files;
        res.copiedBlobs += r.copiedBlobs;
        res.copiedBytes += r.copiedBytes;
      } catch (e) {
        res.errors.push(`${f.serial}/${f.name}: ${(e as Error).message}`);
      }
    }
    onProgress?.(++done, folders.length, `${f.serial}/${f.name}`);
  }
  for (const sn of serials) await fixLatest(store, sn);
  res.serials = serials.size;
  if (needReindex) {
    await reindex(store);
    res.reindexed = true;
  }
  return res;
}
