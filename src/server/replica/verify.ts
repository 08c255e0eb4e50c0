/**
 * verify — `ds-backup-server verify --replica [--sample PCT]`: downloads a
 * random sample of what the sent log says the replica holds, decrypts it
 * (the GCM tag checks the bytes and the key) and re-hashes content objects
 * against their ids; records are compared with the local files' digests.
 * Anything missing, unreadable or different is reported (exit 1).
 */
import { ReplicaCipher, type ContentKind } from './crypto.js';
import { Bucket, parallel } from './bucket.js';
import { needKey } from './key.js';
import { makeS3Client, parseReplicaUrl, type S3Settings } from './s3.js';
import { SentLog, digestOf, replicaTag } from './sent-log.js';
import { messageOf } from '../../platform/errors.js';

export interface ReplicaVerifyResult {
  replica: string;
  samplePct: number;
  checked: number;
  bytes: number;
  damaged: Array<{ what: string; problem: string }>;
  seconds: number;
}

export async function verifyReplica(opts: {
  root: string;
  replica: string;
  replicaKey?: string;
  s3?: S3Settings;
  samplePct: number;
}): Promise<ReplicaVerifyResult> {
  const t0 = Date.now();
  const cipher = new ReplicaCipher(needKey(opts.root, opts.replicaKey).key);
  const bucket = new Bucket(makeS3Client(opts.s3), parseReplicaUrl(opts.replica));
  const log = new SentLog(opts.root, replicaTag(opts.replica, cipher.keyTag()));
  if (log.exists()) log.load();
  const pick = () => Math.random() * 100 < opts.samplePct;
  const content = [...log.content].filter(pick).map((c) => c.split(' ') as [ContentKind, string]);
  const records = [...log.records].filter(pick);
  const damaged: ReplicaVerifyResult['damaged'] = [];
  await parallel(content, 12, async ([kind, id]) => {
    try {
      cipher.openContent(kind, id, await bucket.get(bucket.contentPrefix + cipher.contentName(kind, id)));
    } catch (e) {
      damaged.push({ what: `${kind} ${id}`, problem: messageOf(e) });
    }
  });
  await parallel(records, 12, async ([path, digest]) => {
    try {
      const name = cipher.recordName(path);
      const r = cipher.openRecord(name, await bucket.get(bucket.recordPrefix + name));
      if (digestOf(r.data) !== digest) damaged.push({ what: path, problem: 'differs from what was sent' });
    } catch (e) {
      damaged.push({ what: path, problem: messageOf(e) });
    }
  });
  return {
    replica: opts.replica,
    samplePct: opts.samplePct,
    checked: content.length + records.length,
    bytes: bucket.counters.bytesDown,
    damaged,
    seconds: (Date.now() - t0) / 1000,
  };
}
