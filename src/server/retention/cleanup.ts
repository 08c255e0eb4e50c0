/**
 * cleanup — the daily job: pins of starred entries, thinning, soft quota,
 * reference recount, garbage collection, a verify sample, and a report.
 *
 * Order (each step leaves a consistent store, so a crash anywhere is
 * finished by the next run):
 *  1. finish a crashed run: index snapshot folders the catalog lacks, drop
 *     catalog rows of folders that are gone, reload pins from disk;
 *  2. auto-pin starred entries (pins.ts) while their snapshots still exist;
 *  3. thin (retention.ts) and remove those snapshots: folder first (through
 *     the object store, which hides it whole before deleting it), then its
 *     catalog rows;
 *  4. recount every account's references from the disk (refs.ts) — exact
 *     usage, account_blobs, and the GC mark — then collect garbage (gc.ts):
 *     the references accounts dropped, or, once a week (or `fullGc`), every
 *     stored object (uploads never committed, leftovers of old crashes);
 *  5. if the filesystem is still above the soft quota (or an account above
 *     its cap), plan quota rounds (quota.ts), remove, recount, collect again;
 *  6. remove abandoned resumable uploads no live lease holds (parts.ts);
 *  7. re-hash a sample of the pool (verify.ts); write the report.
 * `dryRun` decides and measures everything but deletes and writes nothing.
 */
import type { SnapshotRow } from '../catalog/catalog.js';
import { accountIds } from '../catalog/devices.js';
import { deleteMeta, getMeta, setMeta } from '../catalog/meta.js';
import { accountReferences } from '../catalog/refs.js';
import { accountsBackedUpSince, allSnapshots, forgetSnapshots } from '../catalog/snapshots.js';
import { collectGarbage, type GcResult } from './gc.js';
import { Pins, type Pin } from './pins.js';
import { planQuota, DEFAULT_QUOTA, type DiskFigures, type QuotaPlan, type QuotaPolicy } from './quota.js';
import { closure, IdSet, recomputeAccount } from './refs.js';
import { syncMissing, unindexedSnapshots } from '../catalog/reindex.js';
import { thin, DEFAULT_RETENTION, type RetentionPolicy, type SnapshotFacts } from './retention.js';
import { StoreUsage } from './usage.js';
import { verifyStore, type VerifyResult } from './verify.js';
import { sweepParts, type PartsReport } from './parts.js';
import { foreignServer } from './gc.js';
import type { Store } from '../store/store.js';
import { snapshotFolderKey, snapshotKey, userKey } from '../store/object-store.js';
import { diskFigures } from '../../platform/system.js';

export interface CleanupPolicy extends RetentionPolicy, QuotaPolicy {
  autoPinStarred: boolean;
  verifySamplePct: number;
  /** Resumable uploads (incoming/*.part) untouched this many days, held by no live lease, are removed (0 = never). */
  partExpiryDays: number;
}

export const DEFAULT_CLEANUP: CleanupPolicy = {
  ...DEFAULT_RETENTION,
  ...DEFAULT_QUOTA,
  autoPinStarred: true,
  verifySamplePct: 1,
  partExpiryDays: 7,
};

export interface CleanupOptions {
  dryRun?: boolean;
  now?: number;
  /** Disk figures (tests); default: statfs of the store. */
  disk?: () => DiskFigures;
  leaseGrants?: () => number[];
  /** Serials of laptops holding live leases in this process (their upload parts stay). */
  leaseSerials?: () => string[];
  /** List the whole store for garbage (default: when the last full sweep is a week old). */
  fullGc?: boolean;
  slackMs?: number;
  yieldEvery?: number;
}

export interface RemovedSnapshot {
  serial: string;
  name: string;
  source: string;
  reason: 'thinned' | 'quota';
  why: string;
}

export interface CleanupReport {
  id: string;
  startedAt: number;
  finishedAt: number;
  seconds: number;
  dryRun: boolean;
  snapshots: { before: number; kept: number; removed: number };
  removed: RemovedSnapshot[];
  kept: Record<string, number>;
  pins: { total: number; added: number; dropped: number };
  quota: Pick<QuotaPlan, 'overQuota' | 'share' | 'rounds' | 'notes'> | null;
  gc: GcResult[];
  /** Abandoned resumable uploads removed (parts.ts); not counted in bytesFreed. */
  uploads: PartsReport;
  bytesFreed: number;
  objectsFreed: number;
  accounts: Array<{ serial: string; bytes: number }>;
  verify: Omit<VerifyResult, 'seconds'> | null;
  repaired: { indexed: number; dropped: number };
  /** Seconds per step, and the process's resident memory (MB) after each. */
  steps: Record<string, number>;
  memory: Record<string, number>;
  /** Peak resident memory of this process so far (MB). */
  maxRssMB: number;
  problems: string[];
}

const yieldNow = () => new Promise<void>((r) => setImmediate(r));

/** Drops catalog rows of snapshot folders that no longer exist (after a crash while removing). */
async function dropVanished(store: Store): Promise<number> {
  if (getMeta(store.db, 'cleanup.removing') === undefined) return 0;
  const gone: SnapshotRow[] = [];
  for (const s of allSnapshots(store.db)) if (!(await store.objects.stat(snapshotKey(s.serial, s.name)))) gone.push(s);
  forgetSnapshots(store.db, gone);
  for (const serial of new Set(gone.map((s) => s.serial))) store.objects.removeLeftovers(userKey(serial));
  deleteMeta(store.db, 'cleanup.removing');
  return gone.length;
}

/**
 * Removes snapshot folders through the object store (each disappears whole
 * first, object-store.ts deleteFolder), then their catalog rows.
 */
async function removeSnapshots(store: Store, rows: SnapshotRow[]): Promise<void> {
  if (!rows.length) return;
  setMeta(store.db, 'cleanup.removing', String(Date.now()));
  for (const r of rows) await store.objects.deleteFolder(snapshotFolderKey(r.serial, r.name));
  forgetSnapshots(store.db, rows);
  deleteMeta(store.db, 'cleanup.removing');
}

function pinsByAccount(pins: Pins): Map<number, Pin[]> {
  const m = new Map<number, Pin[]>();
  for (const p of pins.all()) {
    let l = m.get(p.accountId);
    if (!l) m.set(p.accountId, (l = []));
    l.push(p);
  }
  return m;
}

/** Snapshot folders on disk the catalog does not know (no device record, unreadable...): kept as GC roots all the same. */
async function orphanRoots(store: Store): Promise<string[]> {
  return (await unindexedSnapshots(store)).map((info) => info.root);
}

/** Recounts every account (exact account_blobs and usage) and returns the mark of everything referenced. */
async function recount(
  store: Store,
  pins: Map<number, Pin[]>,
  dryRun: boolean,
  without: ReadonlySet<number>,
  yieldEvery: number,
  problems: string[],
) {
  const marked = new IdSet();
  const usage = new Map<number, number>();
  const accounts = accountIds(store.db);
  // Unindexed snapshots keep everything reachable from them, as far as their trees can be read.
  for (const root of await orphanRoots(store))
    for (const id of (await closure(store, [root], [], true)).sizes.keys()) marked.add(id);
  let n = 0;
  const dropped: string[] = [];
  for (const a of accounts) {
    let r;
    try {
      r = await recomputeAccount(store, a, pins.get(a) ?? [], dryRun, without);
    } catch (e) {
      // A tree is missing or unreadable: keep everything the catalog says this account references.
      problems.push(
        `account ${a}: references not recounted (${(e as Error).message}); its data is kept as the catalog lists it`,
      );
      for (const id of accountReferences(store.db, a)) marked.add(id);
      continue;
    }
    for (const id of r.closure.sizes.keys()) marked.add(id);
    for (const id of r.dropped) dropped.push(id);
    usage.set(a, r.bytes);
    n += r.closure.trees;
    if (n >= yieldEvery) {
      n = 0;
      await yieldNow();
    }
  }
  return { marked, usage, dropped };
}

function facts(rows: SnapshotRow[], pinned: Set<string>): SnapshotFacts[] {
  return rows.map((r) => ({
    id: r.id,
    accountId: r.account_id,
    serial: r.serial,
    source: r.source,
    name: r.name,
    createdAt: r.created_at,
    pinned: pinned.has(`${r.serial}/${r.name}`),
  }));
}

export async function runCleanup(
  store: Store,
  policy: CleanupPolicy = DEFAULT_CLEANUP,
  opts: CleanupOptions = {},
): Promise<CleanupReport> {
  const startedAt = Date.now();
  const now = opts.now ?? startedAt;
  const dryRun = Boolean(opts.dryRun);
  const yieldEvery = opts.yieldEvery ?? 2000;
  const steps: Record<string, number> = {};
  const problems: string[] = [];
  let mark = Date.now();
  const memory: Record<string, number> = {};
  const step = (name: string) => {
    const t = Date.now();
    steps[name] = (steps[name] ?? 0) + (t - mark) / 1000;
    memory[name] = Math.round(process.memoryUsage().rss / 1048576);
    mark = t;
  };
  const lastFull = Number(getMeta(store.db, 'gc.full-at') ?? 0);
  // A run that crashed after dropping references but before collecting them leaves a mark: sweep everything.
  const pending = getMeta(store.db, 'gc.pending') !== undefined;
  const full = opts.fullGc ?? (pending || startedAt - lastFull >= 7 * 86_400_000);
  const setPending = (on: boolean) => {
    if (dryRun) return;
    if (on) setMeta(store.db, 'gc.pending', String(startedAt));
    else deleteMeta(store.db, 'gc.pending');
  };
  const gcOpts = (candidates: string[]) => ({
    dryRun,
    leaseGrants: opts.leaseGrants?.() ?? [],
    slackMs: opts.slackMs,
    yieldEvery,
    candidates: full ? undefined : candidates,
  });
  foreignServer(store.root); // a damaged run/leases.json stops the run here, before anything is removed
  const repaired = dryRun
    ? { indexed: 0, dropped: 0 }
    : { indexed: await syncMissing(store), dropped: await dropVanished(store) };
  const pins = new Pins(store);
  // A damaged pins.json throws here (state_damaged): nothing is thinned or collected while pins are unknown.
  if (!dryRun) pins.reload();
  else pins.check();
  const starred = policy.autoPinStarred && !dryRun ? await pins.syncStarred(now) : { added: 0, dropped: 0 };
  step('repair and pins');
  await yieldNow();

  const rows = allSnapshots(store.db);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const verdicts = thin(facts(rows, pins.pinnedSnapshots()), policy, now);
  const removed: RemovedSnapshot[] = [];
  const removedIds = new Set<number>();
  for (const v of verdicts) {
    if (v.keep) continue;
    removedIds.add(v.snapshot.id);
    removed.push({
      serial: v.snapshot.serial,
      name: v.snapshot.name,
      source: v.snapshot.source,
      reason: 'thinned',
      why: v.why,
    });
  }
  if (!dryRun)
    await removeSnapshots(
      store,
      [...removedIds].map((id) => byId.get(id)!),
    );
  step('thin');
  await yieldNow();

  const byAccount = pinsByAccount(pins);
  setPending(true);
  let { marked, usage, dropped } = await recount(store, byAccount, dryRun, removedIds, yieldEvery, problems);
  step('recount');
  const gc: GcResult[] = [await collectGarbage(store, marked, gcOpts(dropped))];
  if (full && !dryRun) setMeta(store.db, 'gc.full-at', String(startedAt));
  step('gc');

  // Soft quota and per-account cap.
  const measured = opts.disk ? opts.disk() : diskFigures(store.root);
  const disk = dryRun
    ? {
        ...measured,
        usedBytes: measured.usedBytes - gc[0].bytes,
        usedInodes: measured.usedInodes - gc[0].trees - gc[0].blobs,
      }
    : measured;
  const survivors = verdicts
    .filter((v) => v.keep && v.reason !== 'latest' && v.reason !== 'pinned')
    .map((v) => v.snapshot)
    .sort((a, b) => a.createdAt - b.createdAt);
  const serialOf = new Map(rows.map((r) => [r.account_id, r.serial]));
  const accounts = accountIds(store.db).map((id) => ({
    id,
    label: serialOf.get(id) ?? `account ${id}`,
    removable: survivors.filter((s) => s.accountId === id).map((s) => ({ id: s.id, name: s.name, serial: s.serial })),
  }));
  const model = new StoreUsage(store, usage, byAccount);
  await model.prepare();
  const plan = planQuota(disk, policy, accounts, model);
  const quota: CleanupReport['quota'] = {
    overQuota: plan.overQuota,
    share: plan.share,
    rounds: plan.rounds,
    notes: plan.notes,
  };
  if (plan.removals.length) {
    for (const q of plan.removals) {
      removedIds.add(q.snapshotId);
      const r = byId.get(q.snapshotId)!;
      removed.push({ serial: r.serial, name: r.name, source: r.source, reason: 'quota', why: q.why });
    }
    if (!dryRun)
      await removeSnapshots(
        store,
        plan.removals.map((q) => byId.get(q.snapshotId)!),
      );
    ({ marked, usage, dropped } = await recount(store, byAccount, dryRun, removedIds, yieldEvery, problems));
    gc.push(await collectGarbage(store, marked, gcOpts(dropped)));
  }

  // Commits that landed while we ran: count their references again.
  if (!dryRun) {
    for (const a of accountsBackedUpSince(store.db, startedAt))
      usage.set(a, (await recomputeAccount(store, a, byAccount.get(a) ?? [])).bytes);
  }
  setPending(false);
  step('quota');
  // Abandoned resumable uploads (in the store's scratch folder, where uploads.ts grows them),
  // judged by the wall clock (part mtimes are real times even under --now).
  const foreign = foreignServer(store.root);
  const held =
    foreign && !foreign.serials ? 'all' : new Set([...(opts.leaseSerials?.() ?? []), ...(foreign?.serials ?? [])]);
  const uploads = sweepParts(store.objects.scratchDir, policy.partExpiryDays, Date.now(), held, dryRun);
  step('uploads');
  const verify = policy.verifySamplePct > 0 ? await verifyStore(store, { samplePct: policy.verifySamplePct }) : null;
  step('verify');
  const kept: Record<string, number> = {};
  for (const v of verdicts) if (v.keep && !removedIds.has(v.snapshot.id)) kept[v.reason] = (kept[v.reason] ?? 0) + 1;
  const finishedAt = Date.now();
  return {
    id: new Date(startedAt).toISOString().replace(/[:.]/g, '-'),
    startedAt,
    finishedAt,
    seconds: (finishedAt - startedAt) / 1000,
    dryRun,
    snapshots: { before: rows.length, kept: rows.length - removedIds.size, removed: removedIds.size },
    removed,
    kept,
    pins: { total: pins.all().length, ...starred },
    quota,
    gc,
    uploads,
    bytesFreed: gc.reduce((a, g) => a + g.bytes, 0),
    objectsFreed: gc.reduce((a, g) => a + g.trees + g.blobs, 0),
    accounts: [...usage]
      .map(([id, bytes]) => ({ serial: serialOf.get(id) ?? String(id), bytes }))
      .sort((a, b) => b.bytes - a.bytes),
    verify: verify
      ? {
          samplePct: verify.samplePct,
          blobs: verify.blobs,
          trees: verify.trees,
          bytes: verify.bytes,
          damaged: verify.damaged,
        }
      : null,
    repaired,
    steps,
    memory,
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    problems,
  };
}
