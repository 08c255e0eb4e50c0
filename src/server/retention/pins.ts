/**
 * pins — what an account asked to keep forever: a whole snapshot, or one
 * Journal entry version.
 *
 * The disk is the truth: `users/<SN>/pins.json` (atomic writes) lists the
 * pins made from that laptop (or auto-pins of its entries); the catalog's
 * `pins` table is an index reload() rebuilds from those files (reindex calls
 * it). Each pin carries its own roots — the snapshot's root tree, the entry
 * folder's tree (layout 6) or its data/metadata/preview blobs (layout 0) —
 * so a pinned entry version stays reachable, counted and restorable after
 * every snapshot that held it was removed. `dir` / `files` keep the tree
 * entries (mode, mtime, size) a restore needs to write the entry back.
 *
 * Starred entries: syncStarred() pins, per account and uid, the newest
 * version of every Journal entry whose `keep` is 1 (auto pins), and drops
 * auto pins whose entry has a newer unstarred or starred version.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../../platform/errors.js';
import { writeFileAtomic } from '../../platform/durable.js';
import {
  entryKind,
  entryName,
  entryRef,
  blobsOf,
  isFileEntry,
  readTrustedTree,
  type Tree,
  type TreeEntry,
} from '../../protocol/tree.js';
import type { EntryRow } from '../catalog/catalog.js';
import {
  accountPinJson,
  allPinJson,
  deletePin,
  indexPins,
  pinnedSnapshotNames,
  pinOf,
  replacePins,
  type PinIndexRow,
} from '../catalog/pins-index.js';
import { accountSnapshot } from '../catalog/snapshots.js';
import { journalVersion, journalVersions, newestJournalVersions, newestSnapshotHolding } from '../catalog/entries.js';
import type { Store } from '../store/store.js';

export interface Pin {
  id: string;
  kind: 'snapshot' | 'entry';
  auto: boolean;
  createdAt: number;
  serial: string;
  snapshot?: string;
  source?: string;
  uid?: string;
  version?: string;
  layout?: 0 | 6;
  title?: string;
  /** Trees and blobs this pin keeps (GC roots; usage). */
  trees: string[];
  blobs: Array<[string, number]>;
  /** Layout 6: the entry folder's tree entry. Layout 0: the store entries. */
  dir?: TreeEntry;
  files?: { data?: TreeEntry; meta?: TreeEntry; preview?: TreeEntry };
}

const child = (t: Tree | undefined, name: string, kind: 'f' | 'd') =>
  t?.e.find((e) => entryName(e) === name && (kind === 'f' ? isFileEntry(e) : entryKind(e) === kind));

export class Pins {
  constructor(private readonly store: Store) {}

  private file(serial: string): string {
    return join(this.store.userDir(serial), 'pins.json');
  }

  /** The pins of one laptop folder; a file that is absent means none, any other failure throws (fail closed). */
  readFile(serial: string): Pin[] {
    return readPinsFile(this.file(serial));
  }

  /** Reads every pins file without writing anything (a dry run's check): throws on the first damaged one. */
  check(): number {
    let n = 0;
    for (const serial of this.store.serials()) n += this.readFile(serial).length;
    return n;
  }

  private writeFile(serial: string, pins: Pin[]): void {
    writeFileAtomic(this.file(serial), JSON.stringify({ version: 1, pins }, null, 1) + '\n');
  }

  /** Rebuilds the pins table from every users/<SN>/pins.json; a damaged file throws before the table is touched. */
  reload(): number {
    const rows: PinIndexRow[] = [];
    for (const serial of this.store.serials()) {
      const dev = this.store.registry.bySerial(serial);
      if (!dev) continue;
      for (const p of this.readFile(serial)) rows.push(pinRow(dev.account_id, p));
    }
    replacePins(this.store.db, rows);
    return rows.length;
  }

  private index(accountId: number, p: Pin): void {
    indexPins(this.store.db, [pinRow(accountId, p)]);
  }

  list(accountId: number): Pin[] {
    return accountPinJson(this.store.db, accountId).map((j) => JSON.parse(j) as Pin);
  }

  all(): Array<Pin & { accountId: number }> {
    return allPinJson(this.store.db).map((r) => ({ ...(JSON.parse(r.json) as Pin), accountId: r.account_id }));
  }

  /** Names ("serial/name") of pinned snapshots. */
  pinnedSnapshots(): Set<string> {
    return pinnedSnapshotNames(this.store.db);
  }

  private add(accountId: number, p: Pin): Pin {
    const pins = this.readFile(p.serial);
    pins.push(p);
    this.writeFile(p.serial, pins);
    this.index(accountId, p);
    return p;
  }

  remove(accountId: number, id: string): Pin {
    const row = pinOf(this.store.db, accountId, id);
    if (!row) throw new AppError('not_found', `no pin ${id} in your backups`);
    this.writeFile(
      row.serial,
      this.readFile(row.serial).filter((p) => p.id !== id),
    );
    deletePin(this.store.db, id);
    return JSON.parse(row.json) as Pin;
  }

  pinSnapshot(accountId: number, serial: string, name: string, now = Date.now()): Pin {
    const s = accountSnapshot(this.store.db, accountId, serial, name);
    if (!s) throw new AppError('not_found', `no snapshot ${serial}/${name} in your backups`);
    serial = s.serial; // the canonical form (a web form's or URL's may differ in case)
    const dup = this.list(accountId).find((p) => p.kind === 'snapshot' && p.serial === serial && p.snapshot === name);
    if (dup) return dup;
    return this.add(accountId, {
      id: newId(),
      kind: 'snapshot',
      auto: false,
      createdAt: now,
      serial,
      snapshot: name,
      source: s.source,
      trees: [s.root],
      blobs: [],
    });
  }

  /** Pins one entry version (default: the newest the catalog knows). */
  async pinEntry(
    accountId: number,
    uid: string,
    version: string | undefined,
    auto = false,
    now = Date.now(),
  ): Promise<Pin> {
    const rows = journalVersions(this.store.db, accountId, uid);
    const row = version
      ? rows.find((r) => r.version === version || (version.length >= 8 && r.version.startsWith(version)))
      : rows[0];
    if (!row)
      throw new AppError('not_found', `no Journal entry ${uid}${version ? ` version ${version}` : ''} in your backups`);
    const dup = this.list(accountId).find((p) => p.kind === 'entry' && p.uid === uid && p.version === row.version);
    if (dup) return dup;
    const where = await this.locate(accountId, row);
    return this.add(accountId, { id: newId(), kind: 'entry', auto, createdAt: now, ...where });
  }

  /** Finds where an entry version sits in a snapshot that still holds it. */
  private async locate(accountId: number, row: EntryRow): Promise<Omit<Pin, 'id' | 'kind' | 'auto' | 'createdAt'>> {
    const snap = newestSnapshotHolding(this.store.db, accountId, row);
    if (!snap) throw new AppError('not_found', `entry ${row.uid} version ${row.version} is in no remaining snapshot`);
    const tree = async (id: string) => readTrustedTree(await this.store.pool.readTree(id));
    const top = await tree(snap.root);
    const base = { serial: snap.serial, source: snap.source, uid: row.uid, version: row.version, title: row.title };
    if (row.layout === 6) {
      const prefix = child(top, row.uid.slice(0, 2), 'd');
      const dir = prefix ? child(await tree(entryRef(prefix)), row.uid, 'd') : undefined;
      if (!dir || entryRef(dir) !== row.version)
        throw new AppError('internal', `entry ${row.uid} not found in ${snap.name}`);
      return { ...base, layout: 6, trees: [entryRef(dir)], blobs: [], dir };
    }
    const st = child(top, 'store', 'd');
    const storeTree = st ? await tree(entryRef(st)) : undefined;
    const previews = child(storeTree, 'preview', 'd');
    const files = {
      data: child(storeTree, row.uid, 'f'),
      meta: child(storeTree, `${row.uid}.metadata`, 'f'),
      preview: previews ? child(await tree(entryRef(previews)), row.uid, 'f') : undefined,
    };
    if (!files.meta) throw new AppError('internal', `entry ${row.uid} not found in ${snap.name}`);
    const blobs = [files.data, files.meta, files.preview]
      .filter((e): e is TreeEntry => e !== undefined)
      .flatMap((e) => blobsOf(e));
    return { ...base, layout: 0, trees: [], blobs, files };
  }

  /** Auto pins: the newest version of each starred Journal entry. Returns {added, dropped}. */
  async syncStarred(now = Date.now()): Promise<{ added: number; dropped: number }> {
    const db = this.store.db;
    const have = new Map<string, Pin & { accountId: number }>();
    for (const p of this.all()) if (p.kind === 'entry') have.set(`${p.accountId}/${p.uid}/${p.version}`, p);
    const newestOf = new Map<string, string>();
    const autoUids = new Set([...have.values()].filter((p) => p.auto).map((p) => `${p.accountId}/${p.uid}`));
    const starred: Array<[number, string, string]> = [];
    for (const r of newestJournalVersions(db)) {
      const auto = have.get(`${r.account_id}/${r.uid}/${r.version}`);
      // Only entries with an auto pin need their newest version remembered.
      const key = `${r.account_id}/${r.uid}`;
      if (autoUids.has(key)) newestOf.set(key, r.version);
      if (r.keep === 1 && !auto) starred.push([r.account_id, r.uid, r.version]);
    }
    let added = 0;
    let dropped = 0;
    const fresh = new Map<string, Array<{ accountId: number; pin: Pin }>>();
    for (const [accountId, uid, version] of starred) {
      const r = journalVersion(db, accountId, uid, version)!;
      let pin: Pin;
      try {
        pin = { id: newId(), kind: 'entry', auto: true, createdAt: now, ...(await this.locate(r.account_id, r)) };
      } catch (e) {
        // No snapshot holds it any more (not_found) or the catalog is behind the disk (internal): nothing to pin.
        if (e instanceof AppError && (e.code === 'not_found' || e.code === 'internal')) continue;
        throw e;
      }
      fresh.set(pin.serial, [...(fresh.get(pin.serial) ?? []), { accountId: r.account_id, pin }]);
      added++;
    }
    // One write per laptop folder, one transaction for the index.
    for (const [serial, list] of fresh) this.writeFile(serial, [...this.readFile(serial), ...list.map((x) => x.pin)]);
    indexPins(
      db,
      [...fresh.values()].flat().map((x) => pinRow(x.accountId, x.pin)),
    );
    // An auto pin goes only when its entry has a newer version (starred ones got their own pin above);
    // an entry the student deleted from the Journal keeps its pin.
    for (const p of have.values()) {
      const latest = newestOf.get(`${p.accountId}/${p.uid}`);
      if (p.auto && latest !== undefined && latest !== p.version) {
        this.remove(p.accountId, p.id);
        dropped++;
      }
    }
    return { added, dropped };
  }
}

function pinRow(accountId: number, p: Pin): PinIndexRow {
  return {
    id: p.id,
    accountId,
    serial: p.serial,
    kind: p.kind,
    snapshot: p.snapshot ?? null,
    uid: p.uid ?? null,
    version: p.version ?? null,
    auto: p.auto,
    createdAt: p.createdAt,
    json: JSON.stringify(p),
  };
}

const PIN_HELP =
  'Nothing was changed: pins, cleanup and pin changes stay stopped until it is repaired. Restore it from a backup ' +
  'of the server, or fix the JSON by hand ({"version":1,"pins":[…]}); only if the pins are truly lost, move the file ' +
  'away (the laptop then has no pins) and run the cleanup again.';

/**
 * Parses one pins.json. ENOENT means "no pins yet"; a file that cannot be
 * read, is not JSON, or does not have the shape {pins: [{id, kind, serial,
 * trees, blobs}…]} throws AppError('state_damaged') naming the file, what is
 * wrong and what to do — it is never read as "no pins" (that would let the
 * cleanup delete pinned data) and never overwritten.
 */
function readPinsFile(path: string): Pin[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new AppError('state_damaged', `pins file ${path} cannot be read (${(e as Error).message}). ${PIN_HELP}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new AppError('state_damaged', `pins file ${path} is not valid JSON (${(e as Error).message}). ${PIN_HELP}`);
  }
  const pins = (doc as { pins?: unknown } | null)?.pins;
  if (!Array.isArray(pins)) throw new AppError('state_damaged', `pins file ${path} has no "pins" list. ${PIN_HELP}`);
  pins.forEach((p: unknown, i) => {
    const why = pinShapeError(p);
    if (why) throw new AppError('state_damaged', `pins file ${path}: pin ${i} ${why}. ${PIN_HELP}`);
  });
  return pins as Pin[];
}

function pinShapeError(p: unknown): string | null {
  if (typeof p !== 'object' || p === null) return 'is not an object';
  const x = p as Record<string, unknown>;
  if (typeof x.id !== 'string' || !x.id) return 'has no id';
  if (x.kind !== 'snapshot' && x.kind !== 'entry') return `has kind ${JSON.stringify(x.kind)}`;
  if (typeof x.serial !== 'string') return 'has no serial';
  if (!Array.isArray(x.trees) || !x.trees.every((t) => typeof t === 'string')) return 'has no list of trees';
  if (!Array.isArray(x.blobs) || !x.blobs.every((b) => Array.isArray(b) && typeof b[0] === 'string'))
    return 'has no list of blobs';
  return null;
}

function newId(): string {
  return randomBytes(6).toString('hex');
}
