/**
 * app — builds the Fastify server for one store: JSON schemas on every route,
 * raw streaming bodies for application/octet-stream (blob uploads), pino
 * logs, the one error handler, and the route groups.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { API } from '../../protocol/api.js';
import type { PingAnswer } from '../../protocol/api-types.js';
import { IDLE_SEC, JSON_BODY } from '../../protocol/limits.js';
import { installGuard } from './guard.js';
import { Admission } from '../admission/admission.js';
import { TokenBucket } from '../admission/bandwidth.js';
import type { ServerConfig } from '../config.js';
import type { ServerContext } from './context.js';
import { frameworkError, installErrorHandler } from './http-errors.js';
import { backupRoutes } from './api/backups.js';
import { deviceRoutes } from './api/devices.js';
import { legacyRoutes } from '../legacy/routes.js';
import { restoreRoutes } from './api/restore.js';
import { statusRoutes } from './api/status.js';
import { pinRoutes } from './api/pins.js';
import { reportRoutes } from './api/reports.js';
import { installLeaseFile } from '../admission/lease-file.js';
import { openStore } from '../store/store.js';
import { canonicalizeFolders } from '../store/serial-folders.js';
import { reindex } from '../catalog/reindex.js';
import { ensureReserve } from '../store/reserve.js';
import { cores, diskUsage, load1 } from '../../platform/system.js';
import { webRoutes } from './web/index.js';
import { agentDistRoutes } from './agent-dist/routes.js';
import { davRoutes } from './dav/routes.js';
import { metricsRoutes } from '../metrics/routes.js';

export interface BuiltServer {
  app: FastifyInstance;
  ctx: ServerContext;
}

export function buildServer(config: ServerConfig, opts: { logger?: boolean } = {}): BuiltServer {
  const store = openStore(config);
  store.repair();
  // Folders of serials written before the canonical form (store/serial-folders.ts); the catalog follows.
  const folders = canonicalizeFolders(store.usersDir);
  // The rebuild reads the store (asynchronously on a bucket): the server answers only once it is done.
  const rebuilt = folders.renamed.length || folders.rewritten.length ? reindex(store) : Promise.resolve();
  ensureReserve(store.root);
  const admission = new Admission(
    {
      maxConcurrent: config.maxConcurrent,
      leaseTimeoutMs: config.leaseTimeoutSec * 1000,
      loadLimit: config.loadLimit,
      diskLimitPct: config.diskLimitPct,
    },
    () => ({ load1: load1(), cores: cores(), diskUsedPct: diskUsage(store.root).usedPct }),
  );
  const ctx: ServerContext = { store, admission, config, bandwidth: new TokenBucket(config.bandwidth) };
  const app = Fastify({
    logger: opts.logger === false ? false : { level: config.logLevel },
    bodyLimit: JSON_BODY,
    // req.ip: the socket's address, or X-Forwarded-For's only when config trustProxy says so.
    trustProxy: config.trustProxy,
    keepAliveTimeout: 65_000,
    // An idle socket closes; slow bodies are cut by the guard's body deadline.
    connectionTimeout: IDLE_SEC * 1000,
    // Reject unknown fields instead of silently dropping them.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // A URL Fastify cannot decode: our 400 {error, message} (HTML under /ui), not Fastify's own shape.
    frameworkErrors: frameworkError,
  });
  app.addHook('onReady', async () => void (await rebuilt));
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, body.length ? JSON.parse(body.toString('utf8')) : undefined);
    } catch {
      // JSON.parse throws only SyntaxError: the client's body is bad (400).
      const err = Object.assign(new Error('body is not valid JSON'), { statusCode: 400 });
      done(err, undefined);
    }
  });
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
  if (folders.renamed.length) app.log.warn({ renamed: folders.renamed }, 'serial folders renamed to canonical form');
  if (folders.collisions.length)
    app.log.error(
      { collisions: folders.collisions },
      'serial folders differing only by case: left alone, not merged; an admin must decide which is the laptop',
    );
  installErrorHandler(app);
  installGuard(app, ctx);
  const agentDist = agentDistRoutes(app, ctx);
  // `agent`: the agent this server hands out, {version, sha256, path}; installed agents upgrade to it.
  app.get(API.ping.url, async (): Promise<PingAnswer> => ({
    ok: true,
    service: 'ds-backup-server',
    ...agentDist.pingField(),
  }));
  deviceRoutes(app, ctx);
  backupRoutes(app, ctx);
  restoreRoutes(app, ctx);
  webRoutes(app, ctx);
  legacyRoutes(app, ctx);
  statusRoutes(app, ctx);
  pinRoutes(app, ctx);
  reportRoutes(app, ctx);
  installLeaseFile(app, ctx);
  davRoutes(app, ctx);
  metricsRoutes(app, ctx);
  store.damage.onDamage((f) => app.log.error(f, 'damaged pool object: read refused (verify lists it)'));
  app.addHook('onClose', async () => store.close());
  return { app, ctx };
}
