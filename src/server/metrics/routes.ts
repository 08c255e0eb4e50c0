/**
 * metrics/routes — GET /metrics, and the hooks that count backup events.
 *
 * GET /metrics answers the Prometheus text format to a Bearer token: an
 * admin token (`ds-backup-server admin-token`) or the metrics token
 * (`serve --metrics-token`, config metricsToken), compared in constant time.
 *
 * Events are read off the backup protocol's own responses (no edit of the
 * routes): POST /api/v1/backups 201 = started (and its answer time = the
 * admission latency), commit 200 = completed, a commit error = failed with
 * its error code (missing_blobs is a normal step, not a failure), DELETE of
 * a lease = failed "aborted"; lease ends come from the Admission's hook
 * (expired leases = failed "lease_expired"). Bytes received = what the
 * request bodies of the backup routes, counted as they stream in.
 */
import { pipeline, Transform } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../platform/errors.js';
import { bearer } from '../accounts/auth.js';
import type { ServerContext } from '../http/context.js';
import { safeEqual } from '../accounts/tokens.js';
import { rateLimited } from '../accounts/limits.js';
import { API, isEndpoint } from '../../protocol/api.js';
import { ServerMetrics } from './metrics.js';

const BACKUPS = API.lease.url;

export function metricsRoutes(app: FastifyInstance, ctx: ServerContext, opts: { defaultMetrics?: boolean } = {}) {
  const m = new ServerMetrics(ctx, opts);
  ctx.admission.onLeaseEnd = (lease, end, now) => m.leaseEnded(Math.max(0, (now - lease.grantedAt) / 1000), end);
  const failure = new WeakMap<FastifyRequest, string>();

  // Fastify's way to see a body as it streams: hand the parser a counting pass-through.
  app.addHook('preParsing', async (req, _reply, payload) => {
    if (!req.url.startsWith(BACKUPS)) return payload;
    const counted = new Transform({
      transform(chunk: Buffer, _enc, done) {
        m.receivedBytes(chunk.length);
        done(null, chunk);
      },
    });
    pipeline(payload, counted, () => {});
    return counted;
  });
  app.addHook('onError', async (req, _reply, err) => {
    failure.set(req, err instanceof AppError ? err.code : 'internal');
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url;
    const status = reply.statusCode;
    if (isEndpoint(API.lease, req.method, route)) {
      m.admissionAnswered(reply.elapsedTime / 1000);
      if (status === 201) m.backupStarted();
    } else if (isEndpoint(API.commit, req.method, route)) {
      if (status === 200) m.backupCompleted();
      else {
        const code = failure.get(req) ?? `http_${status}`;
        if (code !== 'missing_blobs') m.backupFailed(code);
      }
    } else if (isEndpoint(API.abort, req.method, route) && status === 204) m.backupFailed('aborted');
  });

  app.get('/metrics', async (req, reply) => {
    const t = bearer(req);
    // The metrics token is chosen by a person: limited like a password (accounts/limits.ts).
    const r =
      t === undefined
        ? { result: 'wrong' as const }
        : ctx.store.webAuth.limiter.attempt(
            req.ip,
            'metrics',
            () =>
              (ctx.config.metricsToken !== '' && safeEqual(t, ctx.config.metricsToken)) ||
              ctx.store.admin.checkToken(t),
          );
    if (r.result === 'limited') throw rateLimited(r.verdict, 'wrong metrics tokens');
    if (r.result === 'wrong')
      throw new AppError('unauthorized', 'GET /metrics needs an admin token or the metrics token (Bearer)');
    const text = await m.registry.metrics();
    return reply.type(m.registry.contentType).header('Cache-Control', 'no-store').send(text);
  });
  return m;
}
