/**
 * status — the replica's part of GET /api/v1/status (and the dashboard):
 * where it goes, the last success and failure, and its lag: the age of the
 * oldest snapshot not yet in the replica (every snapshot committed before
 * the last successful run began is there), 0 when none is pending.
 */
import type { Catalog } from '../catalog/catalog.js';
import { allSnapshots } from '../catalog/snapshots.js';
import { readReplicaStatus } from './replicate.js';

export interface ReplicaStatus {
  replica: string;
  lastSuccessAt: string | null;
  lastErrorAt: string | null;
  lastError: string | null;
  pendingSnapshots: number;
  lagSec: number;
}

export function replicaStatus(root: string, db: Catalog, configured: string, now = Date.now()): ReplicaStatus | null {
  const s = readReplicaStatus(root);
  if (!configured && !s) return null;
  const since = s?.startedAt ? Date.parse(s.startedAt) : 0;
  const pending = allSnapshots(db)
    .map((r) => r.created_at)
    .filter((t) => t >= since);
  return {
    replica: configured || s!.replica,
    lastSuccessAt: s?.lastSuccessAt || null,
    lastErrorAt: s?.lastErrorAt ?? null,
    lastError: s?.lastError ?? null,
    pendingSnapshots: pending.length,
    lagSec: pending.length ? Math.max(0, Math.round((now - Math.min(...pending)) / 1000)) : 0,
  };
}
