/**
 * bench-cleanup — the daily cleanup on a synthetic school: by default 500
 * accounts × 120 daily snapshots of a layout-6 Journal (100 entries, two
 * edited a day, a new one every fifth day; metadata values, activity
 * bundles and classroom books shared across laptops the way real data
 * dedups; blob bytes kept small so the store fits a test machine — cleanup
 * cost is in objects and references, not in bytes).
 *
 * The store is written straight in the on-disk format (trees/, pool/,
 * users/<SN>/<snapshot>/snapshot.json) and the catalog rows (snapshots,
 * entry spans, account_blobs) are inserted directly: generating 60,000
 * snapshots through the protocol would take far longer than the cleanup.
 * Then `cleanup` runs in a child process (so its peak memory is its own) at
 * day 121 with the real policy: thinning removes days 2–30 of every account,
 * reference recount, GC, 1 % verify sample.
 *
 *   npm run bench:cleanup [-- --accounts N --days N --entries N --root DIR --keep]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { rngFor, uuid4, hex, type Rng } from '../src/journal/gen/prng.js';
import { serializeTree, type TreeEntry } from '../src/protocol/tree.js';
import { Store } from '../src/server/store/store.js';
import { stampOf } from '../src/server/store/snapshots.js';
import { blobKey, treeKey } from '../src/server/store/object-store.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1, 9, 0);

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

class Writer {
  private dirs = new Set<string>();
  private shared = new Set<string>();
  objects = 0;
  bytes = 0;
  constructor(private readonly store: Store) {}

  private put(path: string, data: Buffer | string): void {
    const d = join(path, '..');
    if (!this.dirs.has(d)) {
      mkdirSync(d, { recursive: true });
      this.dirs.add(d);
    }
    writeFileSync(path, data);
    this.objects++;
    this.bytes += data.length;
  }

  blob(data: Buffer | string, shared = false): [string, number] {
    const id = sha(data);
    const size = Buffer.byteLength(data);
    if (shared) {
      if (this.shared.has(id)) return [id, size];
      this.shared.add(id);
    }
    this.put(join(this.store.root, blobKey(id)), data); // straight into the local store's files (fast setup)
    return [id, size];
  }

  tree(entries: TreeEntry[]): [string, number] {
    const text = serializeTree(entries);
    const id = sha(text);
    const file = join(this.store.root, treeKey(id));
    if (!existsSync(file)) this.put(file, text);
    return [id, Buffer.byteLength(text)];
  }
}

const ACTIVITIES = [
  ['org.laptop.WebActivity', 'text/html'],
  ['org.laptop.AbiWordActivity', 'application/vnd.oasis.opendocument.text'],
  ['org.laptop.Oficina', 'image/png'],
  ['org.laptop.TurtleArtActivity', 'application/x-turtle-art'],
  ['org.laptop.RecordActivity', 'video/ogg'],
  ['org.laptop.sugar.ReadActivity', 'application/pdf'],
];

interface Entry {
  uid: string;
  title: string;
  act: number;
  keep: boolean;
  ver: number;
  version: string;
  meta: string;
  data: [string, number];
  preview: [string, number];
  mtime: number;
  first: number;
  rowId?: number;
}

function bytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE(rng.u32(), Math.min(i, n - 4));
  return b;
}

function main(): void {
  const accounts = arg('accounts', 500);
  const days = arg('days', 120);
  const nEntries = arg('entries', 100);
  const rootArg = process.argv.indexOf('--root');
  const root = rootArg > 0 ? process.argv[rootArg + 1] : mkdtempSync(join(tmpdir(), 'dsb-bench-cleanup-'));
  const t0 = Date.now();
  const store = new Store(root);
  const w = new Writer(store);
  const db = store.db;
  const insSnap = db.prepare(
    'INSERT INTO snapshots (account_id, device_id, serial, source, name, seq, created_at, root, files, bytes, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)',
  );
  const insEntry =
    db.prepare(`INSERT INTO entries (account_id, source, uid, version, layout, first_seq, last_seq, title, activity, mime_type, timestamp, keep, data_blob, data_size, preview_blob, preview_size, meta_ref)
    VALUES (?, 'datastore', ?, ?, 6, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const closeEntry = db.prepare('UPDATE entries SET last_seq = ? WHERE id = ?');
  const insRef = db.prepare('INSERT OR IGNORE INTO account_blobs (account_id, id, size) VALUES (?, ?, ?)');
  const pool = Array.from({ length: 40 }, (_, k) => bytes(rngFor(`bench/pool/${k}`), 2000 + k * 50));
  let snapshots = 0;

  for (let a = 0; a < accounts; a++) {
    const serial = `SHB${String(a).padStart(8, '0')}`;
    const dev = store.registry.register({ serial, nickname: `kid ${a}` }).device;
    const rng = rngFor(`bench/${serial}`);
    const refs = new Map<string, number>();
    const ref = (x: [string, number]) => {
      refs.set(x[0], x[1]);
      return x;
    };
    const entries = new Map<string, Entry>();
    const userDir = store.userDir(serial);

    const writeVersion = (e: Entry, day: number) => {
      const [activity, mime] = ACTIVITIES[e.act];
      e.mtime = T0 + day * DAY + rng.int(0, 8 * 3600_000);
      e.data = ref(
        rng.chance(0.3) && e.ver === 0
          ? w.blob(pool[Math.floor(40 * rng.float() ** 2)], true)
          : w.blob(bytes(rng, rng.int(200, 3000))),
      );
      e.preview = ref(w.blob(bytes(rng, rng.int(100, 600))));
      const m = (name: string, b: [string, number]): TreeEntry => [name, 'f', 0o644, e.mtime, b[1], ref(b)[0]];
      const meta: TreeEntry[] = [
        m('activity', w.blob(activity, true)),
        m('activity_id', w.blob(`${e.uid}/act`)),
        m('keep', w.blob(e.keep ? '1' : '0', true)),
        m('mime_type', w.blob(mime, true)),
        m('mtime', w.blob(new Date(e.mtime).toISOString())),
        m('preview', e.preview),
        m('timestamp', w.blob(String(Math.floor(e.mtime / 1000)))),
        m('title', w.blob(e.title)),
        m('title_set_by_user', w.blob('0', true)),
        m('uid', w.blob(e.uid)),
      ];
      e.meta = ref(w.tree(meta))[0];
      e.version = ref(
        w.tree([
          ['data', 'f', 0o644, e.mtime, e.data[1], e.data[0]],
          ['metadata', 'd', 0o755, e.mtime, 0, e.meta],
        ]),
      )[0];
    };

    const newEntry = (day: number, i: number) => {
      const e: Entry = {
        uid: uuid4(rng),
        title: `Entry ${i} ${hex(rng, 6)}`,
        act: rng.int(0, ACTIVITIES.length - 1),
        keep: rng.chance(0.05),
        ver: 0,
        version: '',
        meta: '',
        data: ['', 0],
        preview: ['', 0],
        mtime: 0,
        first: 0,
      };
      writeVersion(e, day);
      entries.set(e.uid, e);
      return e;
    };

    db.transaction(() => {
      for (let i = 0; i < nEntries; i++) newEntry(0, i);
      const touched = new Set<Entry>(entries.values());
      for (let d = 0; d < days; d++) {
        const seq = d + 1;
        if (d > 0) {
          touched.clear();
          for (let k = 0; k < 2; k++) {
            const e = rng.pick([...entries.values()]);
            e.ver++;
            writeVersion(e, d);
            touched.add(e);
          }
          if (d % 5 === 0) touched.add(newEntry(d, entries.size));
        }
        for (const e of touched) {
          if (e.rowId !== undefined) closeEntry.run(seq - 1, e.rowId);
          const [activity, mime] = ACTIVITIES[e.act];
          e.rowId = Number(
            insEntry.run(
              dev.account_id,
              e.uid,
              e.version,
              seq,
              e.title,
              activity,
              mime,
              Math.floor(e.mtime / 1000),
              e.keep ? 1 : 0,
              e.data[0],
              e.data[1],
              e.preview[0],
              e.preview[1],
              e.meta,
            ).lastInsertRowid,
          );
        }
        const byPrefix = new Map<string, Entry[]>();
        for (const e of entries.values()) {
          const p = e.uid.slice(0, 2);
          if (!byPrefix.has(p)) byPrefix.set(p, []);
          byPrefix.get(p)!.push(e);
        }
        const top: TreeEntry[] = [...byPrefix.keys()].sort().map((p) => {
          const list = byPrefix.get(p)!.sort((x, y) => (x.uid < y.uid ? -1 : 1));
          const t = ref(w.tree(list.map((e): TreeEntry => [e.uid, 'd', 0o755, e.mtime, 0, e.version])));
          return [p, 'd', 0o755, T0, 0, t[0]];
        });
        const rootId = ref(w.tree(top))[0];
        const at = T0 + d * DAY + rng.int(0, 3600_000);
        const name = `datastore-${stampOf(new Date(at), 'min')}`;
        mkdirSync(join(userDir, name), { recursive: true });
        const files = entries.size * 12;
        writeFileSync(
          join(userDir, name, 'snapshot.json'),
          JSON.stringify({
            version: 1,
            serial,
            account: serial,
            source: 'datastore',
            name,
            createdAt: at,
            root: rootId,
            files,
            bytes: 0,
            runId: null,
          }),
        );
        insSnap.run(dev.account_id, dev.id, serial, 'datastore', name, seq, at, rootId, files, 0);
        snapshots++;
        if (d === days - 1) symlinkSync(name, join(userDir, 'datastore-latest'));
      }
      for (const [id, size] of refs) insRef.run(dev.account_id, id, size);
    })();
    if ((a + 1) % 50 === 0)
      process.stderr.write(
        `generated ${a + 1}/${accounts} accounts, ${w.objects} objects, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
      );
  }
  // The weekly full sweep ran yesterday: the measured run is an ordinary daily one (a second, full one follows).
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('gc.full-at', ?)").run(String(Date.now() - DAY));
  store.close();
  const genSeconds = (Date.now() - t0) / 1000;
  process.stderr.write(
    `store ready: ${accounts} accounts, ${snapshots} snapshots, ${w.objects} objects (${(w.bytes / 1e6).toFixed(0)} MB) in ${genSeconds.toFixed(0)} s; running cleanup\n`,
  );

  // Three runs of the real CLI (built dist/, plain node), each in its own process so each peak memory is its own:
  //  1. the first cleanup after `days` days: thins the whole backlog (days 2–30 of every account);
  //  2. the next day's ordinary daily run (one snapshot per account ages out; incremental GC);
  //  3. a weekly full sweep (lists every stored object).
  const repo = join(import.meta.dirname, '..');
  const cli = (at: number, extra: string[]) => {
    const t = Date.now();
    const out = execFileSync(
      process.execPath,
      [
        join(repo, 'bin', 'ds-backup-server.js'),
        'cleanup',
        '--root',
        root,
        '--force',
        '--json',
        '--now',
        new Date(at).toISOString(),
        ...extra,
      ],
      { encoding: 'utf8', maxBuffer: 1 << 28 },
    );
    const r = JSON.parse(out) as {
      seconds: number;
      maxRssMB: number;
      snapshots: { removed: number };
      objectsFreed: number;
      steps: Record<string, number>;
      memory: Record<string, number>;
    };
    return {
      wallSeconds: (Date.now() - t) / 1000,
      seconds: r.seconds,
      maxRssMB: r.maxRssMB,
      removed: r.snapshots.removed,
      objectsFreed: r.objectsFreed,
      steps: r.steps,
      memoryMB: r.memory,
    };
  };
  const day = T0 + days * DAY + 12 * 3600_000;
  const runs = { backlog: cli(day, []), nextDay: cli(day + DAY, []), fullSweep: cli(day + 2 * DAY, ['--full-gc']) };
  process.stdout.write(
    JSON.stringify(
      { accounts, days, entries: nEntries, snapshots, objects: w.objects, generateSeconds: genSeconds, runs },
      null,
      2,
    ) + '\n',
  );
  for (const [k, r] of Object.entries(runs))
    process.stdout.write(
      `${k}: ${r.seconds.toFixed(1)} s, peak RSS ${r.maxRssMB} MB, ${r.removed} snapshots removed, ${r.objectsFreed} objects freed\n`,
    );
  process.stdout.write('goal: < 60 s and < 300 MB\n');
  if (!process.argv.includes('--keep') && rootArg < 0) rmSync(root, { recursive: true, force: true });
}

main();
