/**
 * routes/status — GET /api/v1/status: what traffic control is doing, for an
 * admin token (`ds-backup-server admin-token`).
 *
 *   admission   policy, live leases, peak, waiting laptops, counters of every
 *               decision (granted, refused by slots / priority / load / disk,
 *               expired, released, replaced), typical lease length and the
 *               latency of POST /api/v1/backups (p50/p99 ms)
 *   bandwidth   the upload cap (bytes/s, 0 = none), bytes that went through
 *               it and the time uploads waited for it
 *   system      1-minute load average and disk use of the store
 *   replica     the off-site copy: last success/failure, lag (replica/status.ts); null when none
 *
 * Also records, for every POST /api/v1/backups, how long the answer took.
 */
import type { FastifyInstance } from 'fastify';
import { API, isEndpoint } from '../../../protocol/api.js';
import type { ServerContext } from '../context.js';
import { diskUsage, load1 } from '../../../platform/system.js';
import { replicaStatus } from '../../replica/status.js';

const startedAt = Date.now();

export function statusRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { admission, bandwidth, store } = ctx;
  app.addHook('onResponse', async (req, reply) => {
    if (isEndpoint(API.lease, req.method, req.routeOptions.url)) admission.latency.add(reply.elapsedTime);
  });

  app.get(API.status.url, async (req) => {
    store.admin.requireAdmin(req);
    const disk = diskUsage(store.root);
    return {
      service: 'ds-backup-server',
      uptimeSec: Math.round((Date.now() - startedAt) / 1000),
      admission: admission.snapshot(),
      bandwidth: { limit: bandwidth.rate, bytes: bandwidth.bytes, waitedMs: Math.round(bandwidth.waitedMs) },
      system: { load1: load1(), diskUsedPct: Math.round(disk.usedPct * 10) / 10, freeBytes: disk.freeBytes },
      replica: replicaStatus(store.root, store.db, ctx.config.replica),
    };
  });
}
