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
import { isFileEntry, readTrustedTree, type Tree, type TreeEntry } from '../../protocol/tree.js';
import type { Catalog, EntryRow, SnapshotRow } from '../catalog/catalog.js';
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

export function ensurePinTable(db: Catalog): void {
  db.exec(`CREATE TABLE IF NOT EXISTS pins (
    id TEXT PRIMARY KEY, account_id INTEGER NOT NULL, serial TEXT NOT NULL, kind TEXT NOT NULL,
    snapshot TEXT, uid TEXT, version TEXT, auto INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, json TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS pins_account ON pins(account_id);`);
}

const child = (t: Tree | undefined, name: string, kind: 'f' | 'd') =>
  t?.e.find((e) => e[0] === name && (kind === 'f' ? isFileEntry(e) : e[1] === kind));

export class Pins {
  constructor(private readonly store: Store) {
    ensurePinTable(store.db);
  }

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
    const db = this.store.db;
    let n = 0;
    this.check();
    db.transaction(() => {
      db.exec('DELETE FROM pins');
      for (const serial of this.store.serials()) {
        const dev = this.store.registry.bySerial(serial);
        if (!dev) continue;
        for (const p of this.readFile(serial)) {
          this.index(dev.account_id, p);
          n++;
        }
      }
    })();
    return n;
  }

  private index(accountId: number, p: Pin): void {
    this.store.db
      .prepare(
        'INSERT OR REPLACE INTO pins (id, account_id, serial, kind, snapshot, uid, version, auto, created_at, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        p.id,
        accountId,
        p.serial,
        p.kind,
        p.snapshot ?? null,
        p.uid ?? null,
        p.version ?? null,
        p.auto ? 1 : 0,
        p.createdAt,
        JSON.stringify(p),
      );
  }

  list(accountId: number): Pin[] {
    return (
      this.store.db
        .prepare('SELECT json FROM pins WHERE account_id = ? ORDER BY created_at, id')
        .all(accountId) as Array<{ json: string }>
    ).map((r) => JSON.parse(r.json) as Pin);
  }

  all(): Array<Pin & { accountId: number }> {
    return (
      this.store.db.prepare('SELECT account_id, json FROM pins').all() as Array<{ account_id: number; json: string }>
    ).map((r) => ({ ...(JSON.parse(r.json) as Pin), accountId: r.account_id }));
  }

  /** Names ("serial/name") of pinned snapshots. */
  pinnedSnapshots(): Set<string> {
    return new Set(
      (
        this.store.db.prepare("SELECT serial, snapshot FROM pins WHERE kind = 'snapshot'").all() as Array<{
          serial: string;
          snapshot: string;
        }>
      ).map((r) => `${r.serial}/${r.snapshot}`),
    );
  }

  private add(accountId: number, p: Pin): Pin {
    const pins = this.readFile(p.serial);
    pins.push(p);
    this.writeFile(p.serial, pins);
    this.index(accountId, p);
    return p;
  }

  remove(accountId: number, id: string): Pin {
    const row = this.store.db
      .prepare('SELECT serial, json FROM pins WHERE id = ? AND account_id = ?')
      .get(id, accountId) as { serial: string; json: string } | undefined;
    if (!row) throw new AppError('not_found', `no pin ${id} in your backups`);
    this.writeFile(
      row.serial,
      this.readFile(row.serial).filter((p) => p.id !== id),
    );
    this.store.db.prepare('DELETE FROM pins WHERE id = ?').run(id);
    return JSON.parse(row.json) as Pin;
  }

  pinSnapshot(accountId: number, serial: string, name: string, now = Date.now()): Pin {
    const s = this.store.db
      .prepare('SELECT * FROM snapshots WHERE serial = ? AND name = ? AND account_id = ?')
      .get(serial, name, accountId) as SnapshotRow | undefined;
    if (!s) throw new AppError('not_found', `no snapshot ${serial}/${name} in your backups`);
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
  pinEntry(accountId: number, uid: string, version: string | undefined, auto = false, now = Date.now()): Pin {
    const rows = this.store.db
      .prepare(
        "SELECT * FROM entries WHERE account_id = ? AND uid = ? AND source = 'datastore' ORDER BY first_seq DESC",
      )
      .all(accountId, uid) as EntryRow[];
    const row = version
      ? rows.find((r) => r.version === version || (version.length >= 8 && r.version.startsWith(version)))
      : rows[0];
    if (!row)
      throw new AppError('not_found', `no Journal entry ${uid}${version ? ` version ${version}` : ''} in your backups`);
    const dup = this.list(accountId).find((p) => p.kind === 'entry' && p.uid === uid && p.version === row.version);
    if (dup) return dup;
    return this.add(accountId, { id: newId(), kind: 'entry', auto, createdAt: now, ...this.locate(accountId, row) });
  }

  /** Finds where an entry version sits in a snapshot that still holds it. */
  private locate(accountId: number, row: EntryRow): Omit<Pin, 'id' | 'kind' | 'auto' | 'createdAt'> {
    const snap = this.store.db
      .prepare(
        `SELECT * FROM snapshots WHERE account_id = ? AND source = ? AND seq >= ? AND (? IS NULL OR seq <= ?) ORDER BY seq DESC LIMIT 1`,
      )
      .get(accountId, row.source, row.first_seq, row.last_seq, row.last_seq) as SnapshotRow | undefined;
    if (!snap) throw new AppError('not_found', `entry ${row.uid} version ${row.version} is in no remaining snapshot`);
    const tree = (id: string) => readTrustedTree(this.store.pool.readTree(id));
    const top = tree(snap.root);
    const base = { serial: snap.serial, source: snap.source, uid: row.uid, version: row.version, title: row.title };
    if (row.layout === 6) {
      const prefix = child(top, row.uid.slice(0, 2), 'd');
      const dir = prefix ? child(tree(prefix[5]), row.uid, 'd') : undefined;
      if (!dir || dir[5] !== row.version) throw new AppError('internal', `entry ${row.uid} not found in ${snap.name}`);
      return { ...base, layout: 6, trees: [dir[5]], blobs: [], dir };
    }
    const st = child(top, 'store', 'd');
    const storeTree = st ? tree(st[5]) : undefined;
    const previews = child(storeTree, 'preview', 'd');
    const files = {
      data: child(storeTree, row.uid, 'f'),
      meta: child(storeTree, `${row.uid}.metadata`, 'f'),
      preview: previews ? child(tree(previews[5]), row.uid, 'f') : undefined,
    };
    if (!files.meta) throw new AppError('internal', `entry ${row.uid} not found in ${snap.name}`);
    const blobs = [files.data, files.meta, files.preview]
      .filter((e): e is TreeEntry => Boolean(e) && e![1] === 'f')
      .map((e): [string, number] => [e[5], e[4]]);
    return { ...base, layout: 0, trees: [], blobs, files };
  }

  /** Auto pins: the newest version of each starred Journal entry. Returns {added, dropped}. */
  syncStarred(now = Date.now()): { added: number; dropped: number } {
    const db = this.store.db;
    const newest =
      db.prepare(`SELECT e.account_id, e.uid, e.version, e.keep FROM entries e JOIN (SELECT account_id, uid, max(first_seq) AS s FROM entries WHERE source = 'datastore' GROUP BY account_id, uid) m
        ON e.account_id = m.account_id AND e.uid = m.uid AND e.first_seq = m.s WHERE e.source = 'datastore'`);
    const full = db.prepare(
      "SELECT * FROM entries WHERE account_id = ? AND uid = ? AND version = ? AND source = 'datastore' ORDER BY first_seq DESC LIMIT 1",
    );
    const have = new Map<string, Pin & { accountId: number }>();
    for (const p of this.all()) if (p.kind === 'entry') have.set(`${p.accountId}/${p.uid}/${p.version}`, p);
    const newestOf = new Map<string, string>();
    const autoUids = new Set([...have.values()].filter((p) => p.auto).map((p) => `${p.accountId}/${p.uid}`));
    const starred: Array<[number, string, string]> = [];
    for (const r of newest.iterate() as IterableIterator<{
      account_id: number;
      uid: string;
      version: string;
      keep: number;
    }>) {
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
      const r = full.get(accountId, uid, version) as EntryRow;
      let pin: Pin;
      try {
        pin = { id: newId(), kind: 'entry', auto: true, createdAt: now, ...this.locate(r.account_id, r) };
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
    db.transaction(() => {
      for (const list of fresh.values()) for (const x of list) this.index(x.accountId, x.pin);
    })();
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
