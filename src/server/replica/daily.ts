/**
 * daily — the replica's step of the daily job inside `serve` (when a replica
 * is configured and the daily job is on): every 30 minutes an attempt,
 * which runs `replicate` when the night window (replicaWindow) is open and no
 * run has succeeded since this opening of the window began, with the
 * window's end as its deadline (a run cut there resumes at the next attempt
 * or the next night). Without a window it runs once per local day. A
 * `replicate` started by hand holds the lock: the attempt is skipped.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { ServerConfig } from '../config.js';
import { scheduleCleanup } from '../retention/cleanup-job.js';
import { replicaSettings } from './cli.js';
import { parseBandwidth, parseWindow, windowAt } from './policy.js';
import { readReplicaStatus, replicate, type ReplicateResult } from './replicate.js';

export type ReplicaAttempt = { ran: true; result: ReplicateResult } | { ran: false; reason: string };

const localMidnight = (t: number) => {
  const d = new Date(t);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
};

/** One attempt: the decision (with its reason) and, when it says so, the run. */
export async function attemptReplica(cfg: ServerConfig, clock: () => number = Date.now): Promise<ReplicaAttempt> {
  if (!cfg.replica) return { ran: false, reason: 'no replica configured' };
  const now = clock();
  const w = windowAt(parseWindow(cfg.replicaWindow), now);
  if (!w.open) return { ran: false, reason: w.reason };
  const since = w.openedAt ?? localMidnight(now);
  const s = readReplicaStatus(cfg.root);
  if (s?.replica === cfg.replica && s.lastSuccessAt && Date.parse(s.lastSuccessAt) >= since)
    return { ran: false, reason: `already replicated in this window (at ${s.lastSuccessAt})` };
  const result = await replicate({
    ...replicaSettings(cfg),
    bandwidth: parseBandwidth(cfg.replicaBandwidth),
    deadline: w.closesAt,
    clock,
  });
  return { ran: true, result };
}

/** Starts the attempts inside `serve`; returns the stop function. A bad window or cap stops `serve` at once. */
export function startDailyReplica(cfg: ServerConfig, log: FastifyBaseLogger): () => void {
  parseWindow(cfg.replicaWindow);
  parseBandwidth(cfg.replicaBandwidth);
  return scheduleCleanup(
    async () => {
      try {
        const out = await attemptReplica(cfg);
        if (out.ran) log.info({ replica: out.result }, out.result.stopped ? 'replication stopped' : 'replication done');
        else log.debug({ reason: out.reason }, 'replication skipped');
      } catch (e) {
        if ((e as { code?: string }).code === 'conflict') log.debug({ err: e }, 'replication skipped');
        else log.warn({ err: e }, 'replication failed');
      }
    },
    30 * 60_000,
    5 * 60_000,
  );
}
