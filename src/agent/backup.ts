/**
 * backup — one backup run of every source to the server.
 *
 * scan (hash cache) → lease → ask which blobs the server lacks → upload only
 * those → commit roots and changed trees → remember what was committed and
 * touch ds-backup-done. The lease is kept alive by heartbeats and released on
 * failure. If the server answers that something is missing (it lost data, or
 * the local memory is stale) the run falls back to offering everything once.
 * A file that changes mid-run makes the run start over once.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { AppError } from '../common/errors.js';
import { saveCache } from './cache.js';
import { ApiClient } from './client.js';
import type { Profile } from './profile.js';
import { DATASTORE_EXCLUDES, newTrees, scanSource, type ScanResult } from './scan.js';
import { markDone, writeState } from './state.js';
import { FileChangedError, uploadBlobs, type UploadItem } from './upload.js';

export interface BackupOptions {
  profile: Profile;
  documents?: string;
  onStage?: (stage: string) => void;
  onUploadStart?: (totalBytes: number) => void;
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

const MISSING_CHUNK = 50_000;
/** Save the hash cache before uploading once this much was hashed: an interrupted run then re-reads nothing. */
const EARLY_SAVE_BYTES = 16 * 1024 * 1024;

export function sourcesOf(profile: Profile, documents?: string): Array<{ source: string; dir: string; excludes: Set<string> }> {
  if (!existsSync(profile.datastore)) throw new AppError('bad_request', `no Journal at ${profile.datastore} (use --profile DIR)`);
  const out = [{ source: 'datastore', dir: profile.datastore, excludes: DATASTORE_EXCLUDES }];
  const docs = profile.documentsDir(documents);
  if (docs) out.push({ source: 'documents', dir: docs, excludes: new Set<string>() });
  return out;
}

async function askMissing(client: ApiClient, lease: string, ids: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (let i = 0; i < ids.length; i += MISSING_CHUNK) {
    const r = await client.json<{ missing: string[] }>('POST', `/api/v1/backups/${lease}/missing`, { json: { ids: ids.slice(i, i + MISSING_CHUNK) } });
    missing.push(...r.missing);
  }
  return missing;
}

async function sendAndCommit(client: ApiClient, lease: string, scans: ScanResult[], full: boolean, opts: BackupOptions, stats: { blobs: number; bytes: number; wire: number }) {
  const where = new Map<string, UploadItem>();
  const candidates = new Set<string>();
  for (const s of scans) {
    for (const [id, b] of s.blobs) where.set(id, { id, ...b });
    for (const id of full ? s.blobs.keys() : s.candidates) candidates.add(id);
  }
  opts.onStage?.(`asking the server which of ${candidates.size} files it lacks`);
  const items = (await askMissing(client, lease, [...candidates])).map((id) => where.get(id)!);
  const total = items.reduce((a, b) => a + b.size, 0);
  opts.onStage?.(`uploading ${items.length} files (${total} bytes)`);
  opts.onUploadStart?.(total);
  const up = await uploadBlobs(client, lease, items, opts.onProgress);
  stats.blobs += up.blobs;
  stats.bytes += up.bytes;
  stats.wire += up.wireBytes;
  opts.onStage?.('committing');
  const sources = scans.map((s) => ({ source: s.source, root: s.root, trees: full ? Object.fromEntries(s.trees) : newTrees(s) }));
  return client.json<{ snapshots: Array<BackupResult['snapshots'][number] & { createdAt: number }>; commitMs?: number }>('POST', `/api/v1/backups/${lease}/commit`, {
    json: { runId: randomBytes(8).toString('hex'), sources },
  });
}

async function runOnce(opts: BackupOptions, started: number): Promise<BackupResult> {
  const { profile } = opts;
  const cfg = profile.requireConfig();
  opts.onStage?.('scanning');
  const scans = sourcesOf(profile, opts.documents).map((s) => scanSource(s.source, s.dir, profile.cacheFile(s.source), cfg.server, s.excludes));
  profile.ensureStateDir();
  // Saved before the upload only when much was hashed (so a failed upload does
  // not cost that hashing again); a small change is saved once, after the
  // commit: the whole cache is rewritten each time (BENCHMARKS.md).
  for (const s of scans) if (s.cacheDirty && s.hashedBytes >= EARLY_SAVE_BYTES) saveCache(profile.cacheFile(s.source), s.cache);
  const client = new ApiClient(cfg.server, cfg.token);
  const stats = { blobs: 0, bytes: 0, wire: 0 };
  let lease: string | null = null;
  let beat: NodeJS.Timeout | undefined;
  try {
    const l = await client.json<{ lease: string; leaseTimeout: number }>('POST', '/api/v1/backups');
    lease = l.lease;
    const id = lease;
    beat = setInterval(() => void client.json('POST', `/api/v1/backups/${id}/heartbeat`).catch(() => {}), Math.max(1000, (l.leaseTimeout * 1000) / 3));
    let res;
    try {
      res = await sendAndCommit(client, lease, scans, false, opts, stats);
    } catch (e) {
      if (!(e instanceof AppError && e.code === 'missing_blobs')) throw e;
      opts.onStage?.('the server lacks data this laptop thought it had; sending everything it needs');
      res = await sendAndCommit(client, lease, scans, true, opts, stats);
    }
    lease = null;
    const when = new Date(Math.max(...res.snapshots.map((s) => s.createdAt)));
    for (const s of scans) {
      s.cache.committed = Object.fromEntries(s.dirIds);
      s.cache.root = s.root;
      if (s.changedDirs.size || s.cacheDirty) saveCache(profile.cacheFile(s.source), s.cache);
    }
    markDone(profile, when);
    writeState(profile, { lastAttempt: started, outcome: 'ok', reason: 'backed up', lastSuccess: when.getTime(), lastSnapshots: res.snapshots.map((s) => s.name) });
    return {
      snapshots: res.snapshots.map(({ name, source, files, bytes }) => ({ name, source, files, bytes })),
      files: scans.reduce((a, s) => a + s.files, 0),
      bytes: scans.reduce((a, s) => a + s.bytes, 0),
      hashedFiles: scans.reduce((a, s) => a + s.hashedFiles, 0),
      uploadedBlobs: stats.blobs,
      uploadedBytes: stats.bytes,
      sentBytes: client.sentBytes + stats.wire,
      seconds: (Date.now() - started) / 1000,
      commitMs: res.commitMs ?? null,
      warnings: scans.flatMap((s) => s.warnings),
    };
  } finally {
    if (beat) clearInterval(beat);
    if (lease) await client.json('DELETE', `/api/v1/backups/${lease}`).catch(() => {});
    await client.close();
  }
}

export async function backup(opts: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  try {
    try {
      return await runOnce(opts, started);
    } catch (e) {
      if (!(e instanceof FileChangedError)) throw e;
      opts.onStage?.(`${e.message}; scanning again`);
      return await runOnce(opts, started);
    }
  } catch (e) {
    const busy = e instanceof AppError && e.code === 'busy';
    writeState(opts.profile, { lastAttempt: started, outcome: busy ? 'busy' : 'failed', reason: (e as Error).message });
    throw e;
  }
}
