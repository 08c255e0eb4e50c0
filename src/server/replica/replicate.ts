/**
 * replicate — copies a local store to its off-site replica, encrypted
 * (crypto.ts), incrementally (sent-log.ts), consistently:
 *
 *  1. The records are read first: the set of snapshot records this run
 *     publishes is fixed before the pool is listed. A snapshot is committed
 *     only after its objects are in the pool (pool.ts: "a tree is published
 *     only when every child it names is already published"), so every object
 *     those snapshots need is in the pool listing that follows.
 *  2. Content objects (pool blobs, trees) the log does not have go up, 12 in
 *     flight; any failure stops the run before step 3.
 *  3. Then the records whose bytes changed: accounts, devices, pins, restore
 *     codes, admin.json, store-format.json, and last the snapshot records —
 *     so a snapshot is visible in the replica only when all it needs is there.
 *
 *  4. Records the replica holds but the store no longer has (cleanup removed
 *     a snapshot, an account was deleted) get a tombstone dated when a run
 *     first saw them gone; once `deleteGraceDays` (30) have passed they are
 *     deleted off-site — so a broken or compromised server cannot wipe its
 *     off-site copy at once, and a rebuild within the grace brings them back.
 *     Content objects (objects/) are never deleted: they are shared by every
 *     school of the district holding the key, and no server can know safely
 *     that no other school uses one — a school that learned from a listing
 *     that the district holds an object publishes snapshots naming it without
 *     sending it again, so deleting it would break that school's copy.
 *
 * Uploads go through a token bucket (`bandwidth`, uplink.ts) and stop being
 * started at `deadline` (the end of the night window): the snapshot records
 * of a stopped run are not sent, so the replica stays consistent, and the
 * next run resumes from the sent log.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../platform/durable.js';
import { AppError, messageOf } from '../../platform/errors.js';
import { processAlive } from '../../platform/system.js';
import { TokenBucket } from '../admission/bandwidth.js';
import { DEFAULT_DELETE_GRACE_DAYS, graceDecision } from './policy.js';
import { deleteKeys, putPaced } from './uplink.js';
import { ReplicaCipher, type ContentKind } from './crypto.js';
import { Bucket, parallel } from './bucket.js';
import { keyOrNew } from './key.js';
import { makeS3Client, parseReplicaUrl, type S3Settings } from './s3.js';
import { SentLog, digestOf, replicaTag } from './sent-log.js';

export interface ReplicateOptions {
  root: string;
  replica: string;
  replicaKey?: string;
  s3?: S3Settings;
  concurrency?: number;
  progress?: (p: { done: number; total: number; bytes: number }) => void;
  /** Bytes per second for the uploads (0 = no cap); or `pace`, a bucket of the caller's. */
  bandwidth?: number;
  pace?: TokenBucket;
  /** Stop starting uploads at this time (ms; the window's end): the next run resumes. */
  deadline?: number;
  /** Records gone locally are deleted off-site after this many days (default 30). */
  deleteGraceDays?: number;
  /** The time (ms since epoch) as the run sees it; tests and simulations move it. */
  clock?: () => number;
}

export interface ReplicateResult {
  replica: string;
  keyCreated: boolean;
  listed: boolean;
  objects: number;
  records: number;
  bytes: number;
  requests: number;
  seconds: number;
  snapshots: number;
  /** Records deleted off-site this run (gone locally beyond the grace). */
  deleted: number;
  /** Records gone locally but still kept off-site (within the grace). */
  graceHeld: number;
  /** Why the run stopped early (the window closed), or null when it finished. */
  stopped: string | null;
  /** Time the bandwidth cap made uploads wait (ms). */
  waitedMs: number;
}

const HEX64 = /^[0-9a-f]{64}$/;
const ROOT_RECORDS = ['store-format.json', 'admin.json', 'accounts/replacements.json'];

/** Every record file of the store: path relative to the root. */
export function recordPaths(root: string): string[] {
  const out = ROOT_RECORDS.filter((p) => existsSync(join(root, p)));
  const walk = (rel: string) => {
    for (const d of readdirSync(join(root, rel), { withFileTypes: true })) {
      if (d.name.startsWith('.')) continue;
      const r = `${rel}/${d.name}`;
      if (d.isDirectory()) walk(r);
      else if (d.isFile()) out.push(r);
    }
  };
  if (existsSync(join(root, 'users'))) walk('users');
  return out;
}

export const isSnapshotRecord = (path: string): boolean => path.endsWith('/snapshot.json');

/** Every content object in the local pool: [kind, id]. */
export function contentIds(root: string): Array<[ContentKind, string]> {
  const out: Array<[ContentKind, string]> = [];
  for (const [dir, kind] of [
    ['pool', 'blob'],
    ['trees', 'tree'],
  ] as const) {
    const base = join(root, dir);
    if (!existsSync(base)) continue;
    for (const ab of readdirSync(base)) {
      if (!/^[0-9a-f]{2}$/.test(ab)) continue;
      for (const id of readdirSync(join(base, ab))) if (HEX64.test(id)) out.push([kind, id]);
    }
  }
  return out;
}

export const contentPath = (kind: ContentKind, id: string): string =>
  `${kind === 'blob' ? 'pool' : 'trees'}/${id.slice(0, 2)}/${id}`;

export async function replicate(opts: ReplicateOptions): Promise<ReplicateResult> {
  const clock = opts.clock ?? Date.now;
  const startedAt = new Date(clock()).toISOString();
  const prev = readReplicaStatus(opts.root);
  const kept =
    prev?.replica === opts.replica ? prev : { replica: opts.replica, startedAt: '', lastSuccessAt: '', last: null };
  const release = takeReplicaLock(opts.root);
  try {
    const result = await replicateOnce(opts, clock);
    if (result.stopped)
      writeStatus(opts.root, { ...kept, lastStoppedAt: new Date(clock()).toISOString(), last: result });
    else
      writeStatus(opts.root, {
        ...kept,
        replica: opts.replica,
        startedAt,
        lastSuccessAt: new Date(clock()).toISOString(),
        last: result,
      });
    return result;
  } catch (e) {
    writeStatus(opts.root, { ...kept, lastErrorAt: new Date(clock()).toISOString(), lastError: messageOf(e) });
    throw e;
  } finally {
    release();
  }
}

/** <root>/replica/lock holds the pid of the running replicate; a lock whose process is gone is taken over. */
function takeReplicaLock(root: string): () => void {
  mkdirSync(join(root, 'replica'), { recursive: true });
  const path = join(root, 'replica', 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(path, 'utf8').trim() || 0);
      if (pid && pid !== process.pid && processAlive(pid))
        throw new AppError('conflict', `another replicate (pid ${pid}) is running on this store; try again later`);
      rmSync(path, { force: true });
    }
  }
  throw new AppError('conflict', 'another replicate is running on this store; try again later');
}

async function replicateOnce(opts: ReplicateOptions, clock: () => number): Promise<ReplicateResult> {
  const t0 = Date.now();
  const key = keyOrNew(opts.root, opts.replicaKey);
  const cipher = new ReplicaCipher(key.key);
  const bucket = new Bucket(makeS3Client(opts.s3), parseReplicaUrl(opts.replica));
  const log = new SentLog(opts.root, replicaTag(opts.replica, cipher.keyTag()));
  const n = opts.concurrency ?? 12;
  const pace = opts.pace ?? new TokenBucket(opts.bandwidth ?? 0);
  const timeUp = () => opts.deadline !== undefined && clock() >= opts.deadline;

  // 1. records first (fixes the snapshot set), then the pool
  const records = recordPaths(opts.root).map((path) => {
    const data = readFileSync(join(opts.root, path));
    return { path, data, digest: digestOf(data) };
  });
  const content = contentIds(opts.root);

  const listed = !log.exists();
  if (listed) await fromListing(log, bucket, cipher, content, records);
  else log.load();
  noteGone(log, records, clock());

  // 2. content objects
  const todo = content.filter(([k, id]) => !log.content.has(`${k} ${id}`));
  const changed = records.filter((r) => log.records.get(r.path) !== r.digest);
  const total = todo.length + changed.length;
  let done = 0;
  let bytes = 0;
  let stopped: string | null = null;
  let deleted = 0;
  const sent = { objects: 0, records: 0 };
  const tick = (b: number) => {
    done++;
    bytes += b;
    opts.progress?.({ done, total, bytes });
  };
  const step = async <T>(items: T[], fn: (item: T) => Promise<void>) => {
    await parallel(items, n, async (item) => {
      if (stopped || (timeUp() && (stopped = 'the replication window closed'))) return;
      await fn(item);
    });
  };
  try {
    await step(todo, async ([kind, id]) => {
      const body = cipher.sealContent(kind, id, readFileSync(join(opts.root, contentPath(kind, id))));
      await putPaced(bucket, bucket.contentPrefix + cipher.contentName(kind, id), body, pace);
      log.addContent(kind, id);
      sent.objects++;
      tick(body.length);
    });
    // 3. records, snapshot records last — none at all once the window closed
    const others = changed.filter((r) => !isSnapshotRecord(r.path));
    const snaps = changed.filter((r) => isSnapshotRecord(r.path));
    for (const group of [others, snaps])
      await step(group, async (r) => {
        const body = cipher.sealRecord(r.path, r.data);
        await putPaced(bucket, bucket.recordPrefix + cipher.recordName(r.path), body, pace);
        log.addRecord(r.path, r.digest);
        sent.records++;
        tick(body.length);
      });
    // 4. records gone locally beyond the grace period
    if (!stopped) deleted = await deleteExpired(log, bucket, cipher, clock(), opts.deleteGraceDays);
  } finally {
    log.flush();
  }
  return {
    replica: opts.replica,
    keyCreated: key.created,
    listed,
    objects: sent.objects,
    records: sent.records,
    bytes: bucket.counters.bytesUp,
    requests: bucket.counters.requests,
    seconds: (Date.now() - t0) / 1000,
    snapshots: records.filter((r) => isSnapshotRecord(r.path)).length,
    deleted,
    graceHeld: log.gone.size,
    stopped,
    waitedMs: Math.round(pace.waitedMs),
  };
}

/** Records the replica holds that vanished locally get a tombstone; one that came back loses it. */
function noteGone(log: SentLog, records: Array<{ path: string; digest: string }>, now: number): void {
  const local = new Map(records.map((r) => [r.path, r.digest]));
  for (const path of log.records.keys()) if (!local.has(path) && !log.gone.has(path)) log.addGone(path, now);
  for (const [path] of log.gone) {
    const digest = local.get(path);
    if (digest !== undefined && log.records.get(path) === digest) log.addRecord(path, digest);
  }
  log.flush();
}

/** Deletes the records whose tombstone is older than the grace; returns how many. */
async function deleteExpired(
  log: SentLog,
  bucket: Bucket,
  cipher: ReplicaCipher,
  now: number,
  graceDays = DEFAULT_DELETE_GRACE_DAYS,
): Promise<number> {
  const due = [...log.gone].filter(([, since]) => graceDecision(since, now, graceDays).delete).map(([p]) => p);
  if (!due.length) return 0;
  await deleteKeys(
    bucket,
    due.map((p) => bucket.recordPrefix + cipher.recordName(p)),
  );
  for (const p of due) log.addDeleted(p);
  return due.length;
}

/** The sent log rebuilt from one listing of the bucket. */
async function fromListing(
  log: SentLog,
  bucket: Bucket,
  cipher: ReplicaCipher,
  content: Array<[ContentKind, string]>,
  records: Array<{ path: string; digest: string }>,
): Promise<void> {
  const have = new Set(await bucket.listNames(bucket.contentPrefix));
  for (const [kind, id] of content) if (have.has(cipher.contentName(kind, id))) log.addContent(kind, id);
  const haveRecords = new Set(await bucket.listNames(bucket.recordPrefix));
  // Snapshot records never change once written; other records are sent again.
  for (const r of records)
    if (isSnapshotRecord(r.path) && haveRecords.has(cipher.recordName(r.path))) log.addRecord(r.path, r.digest);
  // Records the store no longer has (within their grace, or left by a lost log): learn their
  // paths, so that they get a tombstone and are deleted once the grace has passed.
  const local = new Set(records.map((r) => cipher.recordName(r.path)));
  const orphans = [...haveRecords].filter((name) => !local.has(name));
  await parallel(orphans, 12, async (name) => {
    try {
      const r = cipher.openRecord(name, await bucket.get(bucket.recordPrefix + name));
      log.addRecord(r.path, digestOf(r.data));
    } catch (e) {
      if (!(e instanceof AppError && e.code === 'hash_mismatch')) throw e; // not ours to read: left alone
    }
  });
  log.flush();
}

export interface ReplicaStatusFile {
  replica: string;
  /** When the last successful run began: every snapshot committed before it is in the replica. */
  startedAt: string;
  lastSuccessAt: string;
  last: ReplicateResult | null;
  lastErrorAt?: string;
  lastError?: string;
  /** When a run last stopped at the window's end before finishing. */
  lastStoppedAt?: string;
}

export const STATUS_FILE = join('replica', 'status.json');

function writeStatus(root: string, s: ReplicaStatusFile): void {
  writeFileAtomic(join(root, STATUS_FILE), JSON.stringify(s, null, 2) + '\n');
}

export function readReplicaStatus(root: string): ReplicaStatusFile | null {
  try {
    if (!lstatSync(join(root, STATUS_FILE)).isFile()) return null;
    return JSON.parse(readFileSync(join(root, STATUS_FILE), 'utf8')) as ReplicaStatusFile;
  } catch {
    return null;
  }
}
