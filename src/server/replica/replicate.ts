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
 * The replica never deletes anything (yet): what cleanup removes locally
 * stays off-site (the grace period is infinite for now).
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../platform/durable.js';
import { messageOf } from '../../platform/errors.js';
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
  const startedAt = new Date().toISOString();
  const prev = readReplicaStatus(opts.root);
  try {
    const result = await replicateOnce(opts);
    writeStatus(opts.root, { replica: opts.replica, startedAt, lastSuccessAt: new Date().toISOString(), last: result });
    return result;
  } catch (e) {
    writeStatus(opts.root, {
      ...(prev?.replica === opts.replica
        ? prev
        : { replica: opts.replica, startedAt: '', lastSuccessAt: '', last: null }),
      lastErrorAt: new Date().toISOString(),
      lastError: messageOf(e),
    });
    throw e;
  }
}

async function replicateOnce(opts: ReplicateOptions): Promise<ReplicateResult> {
  const t0 = Date.now();
  const key = keyOrNew(opts.root, opts.replicaKey);
  const cipher = new ReplicaCipher(key.key);
  const bucket = new Bucket(makeS3Client(opts.s3), parseReplicaUrl(opts.replica));
  const log = new SentLog(opts.root, replicaTag(opts.replica, cipher.keyTag()));
  const n = opts.concurrency ?? 12;

  // 1. records first (fixes the snapshot set), then the pool
  const records = recordPaths(opts.root).map((path) => {
    const data = readFileSync(join(opts.root, path));
    return { path, data, digest: digestOf(data) };
  });
  const content = contentIds(opts.root);

  const listed = !log.exists();
  if (listed) await fromListing(log, bucket, cipher, content, records);
  else log.load();

  // 2. content objects
  const todo = content.filter(([k, id]) => !log.content.has(`${k} ${id}`));
  const changed = records.filter((r) => log.records.get(r.path) !== r.digest);
  const total = todo.length + changed.length;
  let done = 0;
  let bytes = 0;
  const tick = (b: number) => {
    done++;
    bytes += b;
    opts.progress?.({ done, total, bytes });
  };
  try {
    await parallel(todo, n, async ([kind, id]) => {
      const body = cipher.sealContent(kind, id, readFileSync(join(opts.root, contentPath(kind, id))));
      await bucket.put(bucket.contentPrefix + cipher.contentName(kind, id), body);
      log.addContent(kind, id);
      tick(body.length);
    });
    // 3. records, snapshot records last
    const others = changed.filter((r) => !isSnapshotRecord(r.path));
    const snaps = changed.filter((r) => isSnapshotRecord(r.path));
    for (const group of [others, snaps])
      await parallel(group, n, async (r) => {
        const body = cipher.sealRecord(r.path, r.data);
        await bucket.put(bucket.recordPrefix + cipher.recordName(r.path), body);
        log.addRecord(r.path, r.digest);
        tick(body.length);
      });
  } finally {
    log.flush();
  }
  return {
    replica: opts.replica,
    keyCreated: key.created,
    listed,
    objects: todo.length,
    records: changed.length,
    bytes: bucket.counters.bytesUp,
    requests: bucket.counters.requests,
    seconds: (Date.now() - t0) / 1000,
    snapshots: records.filter((r) => isSnapshotRecord(r.path)).length,
  };
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
