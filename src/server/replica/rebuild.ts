/**
 * rebuild — brings a school back from its replica onto an empty root:
 *
 *  1. every record under <prefix>/records/ is listed, fetched, decrypted
 *     (its path travels inside, crypto.ts) and written in place: devices with
 *     their token hashes, restore codes, pins, approvals, admin.json,
 *     store-format.json, and the snapshot records;
 *  2. from each snapshot's root tree the trees are walked (tree-walk order,
 *     12 fetches in flight per level) and every tree and pool blob they name
 *     is fetched, decrypted, re-hashed against its id and put in the pool;
 *  3. `-latest` aliases are set and the catalog is rebuilt (reindex).
 * Laptops then go on with their own tokens; the server answers "present"
 * for every object the replica brought back.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../platform/durable.js';
import { AppError } from '../../platform/errors.js';
import { entryKind, entryRef, parseTree } from '../../protocol/tree.js';
import { isSerial, isSnapshotName } from '../../protocol/names.js';
import { LocalObjectStore } from '../store/local-store.js';
import { blobKey, snapshotKey, treeKey } from '../store/object-store.js';
import type { SnapshotInfo } from '../store/snapshots.js';
import { Store } from '../store/store.js';
import { reindex } from '../catalog/reindex.js';
import { ReplicaCipher } from './crypto.js';
import { Bucket, parallel } from './bucket.js';
import { needKey } from './key.js';
import { makeS3Client, parseReplicaUrl, type S3Settings } from './s3.js';

export interface RebuildOptions {
  root: string;
  replica: string;
  replicaKey?: string;
  s3?: S3Settings;
  concurrency?: number;
}

export interface RebuildResult {
  records: number;
  snapshots: number;
  trees: number;
  blobs: number;
  bytes: number;
  requests: number;
  devices: number;
  seconds: number;
}

const ROOT_FILES = new Set(['store-format.json', 'admin.json', 'accounts/replacements.json']);

/** Where a record may be written: the known root files, or users/<SN>/… with plain names. */
function checkRecordPath(path: string): void {
  if (ROOT_FILES.has(path)) return;
  const parts = path.split('/');
  const ok =
    parts[0] === 'users' &&
    parts.length >= 3 &&
    parts.length <= 4 &&
    isSerial(parts[1]) &&
    parts.slice(2).every((p) => p.length > 0 && !p.startsWith('.') && !p.includes('\\'));
  if (!ok) throw new AppError('bad_request', `replica record with an unexpected path: ${JSON.stringify(path)}`);
}

export async function rebuild(opts: RebuildOptions): Promise<RebuildResult> {
  const t0 = Date.now();
  const root = resolve(opts.root);
  if (existsSync(root) && readdirSync(root).some((n) => n !== 'lost+found'))
    throw new AppError('conflict', `${root} is not empty: rebuild needs an empty folder`);
  mkdirSync(root, { recursive: true });
  const cipher = new ReplicaCipher(needKey(null, opts.replicaKey).key);
  const bucket = new Bucket(makeS3Client(opts.s3), parseReplicaUrl(opts.replica));
  const n = opts.concurrency ?? 12;

  // 1. records
  const names = await bucket.listNames(bucket.recordPrefix);
  if (!names.length) throw new AppError('not_found', `no records under ${opts.replica}`);
  const snapshots: SnapshotInfo[] = [];
  const objects = new LocalObjectStore(root);
  await parallel(names, n, async (name) => {
    const { path, data } = cipher.openRecord(name, await bucket.get(bucket.recordPrefix + name));
    checkRecordPath(path);
    const parts = path.split('/');
    if (parts.length === 4 && parts[3] === 'snapshot.json' && isSnapshotName(parts[2])) {
      const info = JSON.parse(data.toString('utf8')) as SnapshotInfo;
      snapshots.push(info);
      await objects.putIfAbsent(snapshotKey(parts[1], parts[2]), data);
    } else {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileAtomic(join(root, path), data, path === 'store-format.json' ? 0o644 : 0o600);
    }
  });

  // 2. trees and blobs reachable from the snapshots, level by level
  const seenTrees = new Set<string>();
  const seenBlobs = new Set<string>();
  let level = [...new Set(snapshots.map((s) => s.root))];
  const blobs: string[] = [];
  while (level.length) {
    const nextLevel: string[] = [];
    await parallel(level, n, async (id) => {
      if (seenTrees.has(id)) return;
      seenTrees.add(id);
      const plain = cipher.openContent(
        'tree',
        id,
        await bucket.get(bucket.contentPrefix + cipher.contentName('tree', id)),
      );
      for (const e of parseTree(plain.toString('utf8')).e) {
        const kind = entryKind(e);
        if (kind === 'd' && !seenTrees.has(entryRef(e))) nextLevel.push(entryRef(e));
        else if (kind === 'f' && !seenBlobs.has(entryRef(e))) {
          seenBlobs.add(entryRef(e));
          blobs.push(entryRef(e));
        }
      }
      await objects.putIfAbsent(treeKey(id), plain);
    });
    level = nextLevel;
  }
  await parallel(blobs, n, async (id) => {
    const plain = cipher.openContent(
      'blob',
      id,
      await bucket.get(bucket.contentPrefix + cipher.contentName('blob', id)),
    );
    await objects.putIfAbsent(blobKey(id), plain);
  });

  // 3. aliases and the catalog
  const newest = new Map<string, SnapshotInfo>();
  for (const s of snapshots) {
    const k = `${s.serial}\n${s.source}`;
    const cur = newest.get(k);
    if (!cur || s.createdAt > cur.createdAt) newest.set(k, s);
  }
  for (const s of newest.values()) objects.sync?.setAlias(`users/${s.serial}`, `${s.source}-latest`, s.name);
  const store = new Store(root);
  const r = await reindex(store);
  store.close();
  return {
    records: names.length,
    snapshots: snapshots.length,
    trees: seenTrees.size,
    blobs: blobs.length,
    bytes: bucket.counters.bytesDown,
    requests: bucket.counters.requests,
    devices: r.devices,
    seconds: (Date.now() - t0) / 1000,
  };
}
