/**
 * lease-file — tells a separate `ds-backup-server cleanup` process which
 * backups are in flight, so its garbage collection keeps what those clients
 * were told exists (gc.ts). `serve` rewrites <root>/run/leases.json
 * ({pid, updatedAt, grants: grant times of live leases, serials: their laptops}) before it answers a
 * lease grant, and after releases and commits. A stale entry only makes GC
 * keep more; a file whose pid is gone is ignored.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { API, isEndpoint } from '../../protocol/api.js';
import type { ServerContext } from '../http/context.js';
import { leaseFilePath, type LeaseFile } from '../retention/gc.js';

export function writeLeaseFile(ctx: ServerContext): void {
  const path = leaseFilePath(ctx.store.root);
  mkdirSync(dirname(path), { recursive: true });
  const body: LeaseFile = {
    pid: process.pid,
    updatedAt: Date.now(),
    grants: ctx.admission.active().map((l) => l.grantedAt),
    serials: [...new Set(ctx.admission.active().map((l) => l.serial))],
  };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(body));
  renameSync(tmp, path);
}

export function installLeaseFile(app: FastifyInstance, ctx: ServerContext): void {
  writeLeaseFile(ctx);
  app.addHook('onSend', async (req, _reply, payload) => {
    const url = req.routeOptions.url;
    if (isEndpoint(API.lease, req.method, url) || isEndpoint(API.abort, req.method, url) || url === API.commit.url)
      writeLeaseFile(ctx);
    return payload;
  });
  app.addHook('onClose', async () => rmSync(leaseFilePath(ctx.store.root), { force: true }));
}
