/**
 * backup — one backup run of every source to the server.
 *
 * lease → scan (hash cache) while asking which blobs the server lacks and
 * uploading only those (pipeline.ts) → commit roots and changed trees →
 * remember what was committed and touch ds-backup-done. The lease is kept alive by heartbeats and released on
 * failure. If the server answers that something is missing (it lost data, or
 * the local memory is stale) the run falls back to offering everything once.
 * A file that changes mid-run makes the run start over once.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { gather } from '../../platform/chunks.js';
import { AppError } from '../../platform/errors.js';
import { saveCache } from '../../snapshot/cache.js';
import { API, apiPath } from '../../protocol/api.js';
import type { CommitAnswer } from '../../protocol/api-types.js';
import { ApiClient, type BodyProducer } from '../client.js';
import { BlobPipeline } from './pipeline.js';
import type { Profile } from '../profile.js';
import { allTrees, DATASTORE_EXCLUDES, scanSourceAsync, type ScanResult } from '../../snapshot/scan.js';
import { markDone, writeState } from '../schedule/state.js';
import { FileChangedError, type UploadItem, type UploadStats } from './upload.js';

export interface BackupOptions {
  profile: Profile;
  documents?: string;
  onStage?: (stage: string) => void;
  /** The server lacks this many more bytes (called as the scan finds them). */
  onMissing?: (bytes: number) => void;
  onProgress?: (bytes: number) => void;
}

export interface BackupResult {
  snapshots: Array<{ name: string; source: string; files: number; bytes: number }>;
  files: number;
  bytes: number;
  hashedFiles: number;
  uploadedBlobs: number;
  uploadedBytes: number;
  sentBytes: number;
  seconds: number;
  /** Server time spent in the commit (ms), as the server reports it. */
  commitMs: number | null;
  warnings: string[];
}

/** Save the hash cache before the commit once this much was hashed: an interrupted run then re-reads nothing. */
const EARLY_SAVE_BYTES = 16 * 1024 * 1024;

type Source = { source: string; dir: string; excludes: Set<string> };
type CommitReply = CommitAnswer;

export function sourcesOf(profile: Profile, documents?: string): Source[] {
  if (!existsSync(profile.datastore))
    throw new AppError('bad_request', `no Journal at ${profile.datastore} (use --profile DIR)`);
  const out = [{ source: 'datastore', dir: profile.datastore, excludes: DATASTORE_EXCLUDES }];
  const docs = profile.documentsDir(documents);
  if (docs) out.push({ source: 'documents', dir: docs, excludes: new Set<string>() });
  return out;
}

/** Scans every source while the pipeline asks for and sends what the server lacks. */
async function scanAndSend(
  pipe: BlobPipeline,
  profile: Profile,
  server: string,
  sources: Source[],
): Promise<ScanResult[]> {
  const scans: ScanResult[] = [];
  const hooks = {
    // Big files travel and are stored as content-defined chunks (issue #13);
    // DSB_WHOLE_FILES=1 keeps them whole (one resumable upload each: tests of that path).
    chunkBig: process.env.DSB_WHOLE_FILES !== '1',
    onCandidate: (b: UploadItem) => pipe.offer(b),
    onTree: (id: string, text: string) => pipe.offerTree(id, text),
    pause: () => pipe.pause(),
  };
  for (const s of sources) {
    const scan = await scanSourceAsync(s.source, s.dir, profile.cacheFile(s.source), server, s.excludes, hooks);
    // Saved before the commit only when much was hashed (so a failed run does
    // not cost that hashing again); a small change is saved once, after it.
    if (scan.cacheDirty && scan.hashedBytes >= EARLY_SAVE_BYTES) saveCache(profile.cacheFile(s.source), scan.cache);
    scans.push(scan);
  }
  await pipe.finish();
  return scans;
}

/**
 * The commit body, {runId, sources: [{source, root, trees: {id: text}}]},
 * made piece by piece: a first backup's trees are megabytes of JSON, and one
 * JSON.stringify of them (and its Buffer) was the agent's memory peak.
 */
function* commitJson(scans: ScanResult[], full: boolean, sentAhead: ReadonlySet<string>): Generator<string> {
  yield `{"runId":"${randomBytes(8).toString('hex')}","sources":[`;
  for (const [i, s] of scans.entries()) {
    yield `${i ? ',' : ''}{"source":${JSON.stringify(s.source)},"root":"${s.root}","trees":{`;
    let first = true;
    for (const [id, text] of full ? Object.entries(allTrees(s)) : s.changedTrees) {
      if (!full && sentAhead.has(id)) continue;
      yield `${first ? '' : ','}"${id}":${JSON.stringify(text)}`;
      first = false;
    }
    yield '}}';
  }
  yield ']}';
}

function commitBody(
  scans: ScanResult[],
  full: boolean,
  stats: UploadStats,
  sentAhead: ReadonlySet<string>,
): BodyProducer {
  return async (out) => {
    for (const chunk of gather(commitJson(scans, full, sentAhead))) {
      stats.wireBytes += chunk.length;
      if (!out.write(chunk)) await once(out, 'drain');
    }
  };
}

function commit(
  client: ApiClient,
  lease: string,
  scans: ScanResult[],
  full: boolean,
  stats: UploadStats,
  sentAhead: ReadonlySet<string> = new Set(),
): Promise<CommitReply> {
  return client.json<CommitReply>(API.commit.method, apiPath(API.commit, { lease }), {
    body: commitBody(scans, full, stats, sentAhead),
    headers: { 'content-type': 'application/json' },
  });
}

/** The server lost something this laptop thought it had: offer every blob and tree once. */
async function resendAll(
  client: ApiClient,
  lease: string,
  scans: ScanResult[],
  opts: BackupOptions,
  stats: UploadStats,
): Promise<CommitReply> {
  opts.onStage?.('the server lacks data this laptop thought it had; sending everything it needs');
  const pipe = new BlobPipeline(client, lease, opts.onMissing, opts.onProgress);
  for (const s of scans) for (const b of s.blobs.values()) pipe.offer(b);
  const up = await pipe.finish();
  stats.blobs += up.blobs;
  stats.bytes += up.bytes;
  stats.wireBytes += up.wireBytes;
  return commit(client, lease, scans, true, stats);
}

function remember(profile: Profile, scans: ScanResult[]): void {
  for (const s of scans) {
    s.cache.committed = 'dirs';
    s.cache.root = s.root;
    if (s.changedDirs.size || s.cacheDirty) saveCache(profile.cacheFile(s.source), s.cache);
  }
}

function summary(
  scans: ScanResult[],
  res: CommitReply,
  stats: UploadStats,
  client: ApiClient,
  started: number,
): BackupResult {
  const sum = (f: (s: ScanResult) => number) => scans.reduce((a, s) => a + f(s), 0);
  return {
    snapshots: res.snapshots.map(({ name, source, files, bytes }) => ({ name, source, files, bytes })),
    files: sum((s) => s.files),
    bytes: sum((s) => s.bytes),
    hashedFiles: sum((s) => s.hashedFiles),
    uploadedBlobs: stats.blobs,
    uploadedBytes: stats.bytes,
    sentBytes: client.sentBytes + stats.wireBytes,
    seconds: (Date.now() - started) / 1000,
    commitMs: res.commitMs ?? null,
    warnings: scans.flatMap((s) => s.warnings),
  };
}

/**
 * lease → scan, asking and uploading as folders are done → commit roots and
 * changed trees → remember what was committed. The lease is taken first so
 * uploads can start with the first changed folder.
 */
async function runOnce(opts: BackupOptions, started: number): Promise<BackupResult> {
  const { profile } = opts;
  const cfg = profile.requireConfig();
  const sources = sourcesOf(profile, opts.documents);
  profile.ensureStateDir();
  const client = new ApiClient(cfg.server, cfg.token);
  let lease: string | null = null;
  let beat: NodeJS.Timeout | undefined;
  try {
    const l = await client.call(API.lease, {});
    lease = l.lease;
    const id = lease;
    beat = setInterval(
      // a missed heartbeat is not fatal: the lease outlives two more tries, and the commit reports a lost lease
      () => void client.call(API.heartbeat, { lease: id }).catch(() => {}),
      Math.max(1000, (l.leaseTimeout * 1000) / 3),
    );
    opts.onStage?.('scanning, and sending what the server lacks');
    const pipe = new BlobPipeline(client, lease, opts.onMissing, opts.onProgress);
    pipe.treesAhead = l.treesAhead === true;
    const scans = await scanAndSend(pipe, profile, cfg.server, sources);
    const stats = pipe.stats;
    opts.onStage?.('committing');
    let res: CommitReply;
    try {
      res = await commit(client, lease, scans, false, stats, pipe.sentTrees);
    } catch (e) {
      if (!(e instanceof AppError && e.code === 'missing_blobs')) throw e;
      res = await resendAll(client, lease, scans, opts, stats);
    }
    lease = null;
    const when = new Date(Math.max(...res.snapshots.map((s) => s.createdAt)));
    remember(profile, scans);
    markDone(profile, when);
    writeState(profile, {
      lastAttempt: started,
      outcome: 'ok',
      reason: 'backed up',
      lastSuccess: when.getTime(),
      lastSnapshots: res.snapshots.map((s) => s.name),
    });
    return summary(scans, res, stats, client, started);
  } finally {
    if (beat) clearInterval(beat);
    // best effort: an abort that fails leaves a lease the server expires on its own (leaseTimeout)
    if (lease) await client.call(API.abort, { lease }).catch(() => {});
    await client.close();
  }
}

/**
 * A file changed while it was backed up: seen by the agent (FileChangedError),
 * or by the server, whose hash of the bytes sent did not match the name the
 * scan gave them (a change within one mtime tick). Either way: scan again.
 */
function changedUnderneath(e: unknown): boolean {
  return e instanceof FileChangedError || (e instanceof AppError && e.code === 'hash_mismatch');
}

export async function backup(opts: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  try {
    try {
      return await runOnce(opts, started);
    } catch (e) {
      if (!changedUnderneath(e)) throw e;
      opts.onStage?.(`${(e as Error).message}; scanning again`);
      return await runOnce(opts, started);
    }
  } catch (e) {
    const busy = e instanceof AppError && e.code === 'busy';
    writeState(opts.profile, { lastAttempt: started, outcome: busy ? 'busy' : 'failed', reason: (e as Error).message });
    throw e;
  }
}
