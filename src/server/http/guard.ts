/**
 * guard — what a request costs before anyone knows who sent it (issue #16 §1).
 *
 *  - Authentication runs in `onRequest`, before Fastify's body parser: every
 *    /api/v1 endpoint the contract marks `device` or `admin` (protocol/api.ts
 *    API_AUTH) resolves its token first. A request that fails is answered
 *    401/403 without its body being read, and its connection is closed
 *    (`Connection: close`), so a 200 MiB body without a token costs nothing.
 *  - Wrong tokens count per address (accounts/limits.ts TOKEN): an address
 *    flooding them is answered 429 rate_limited before any check.
 *  - Every body has a deadline: BODY_GRACE_SEC plus its length (or the route's
 *    bodyLimit when the length is not declared) at BODY_MIN_RATE bytes/s. A
 *    sender slower than that (slow-loris) has its connection destroyed; its
 *    memory is bounded by the route's bodyLimit meanwhile.
 *  - Idle connections close after IDLE_SEC (app.ts: connectionTimeout).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { API, API_AUTH, type ApiAuth, type ApiName } from '../../protocol/api.js';
import { BODY_MIN_RATE, JSON_BODY } from '../../protocol/limits.js';
import { AppError } from '../../platform/errors.js';
import { bearer, requireDevice } from '../accounts/auth.js';
import { rateLimited } from '../accounts/limits.js';
import type { ServerContext } from './context.js';

function hasBody(req: FastifyRequest): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

export function installGuard(app: FastifyInstance, ctx: ServerContext): void {
  const auth = new Map<string, ApiAuth>();
  for (const name of Object.keys(API) as ApiName[]) {
    const e = API[name];
    auth.set(`${e.method} ${e.url}`, API_AUTH[name]);
    if (e.method === 'GET') auth.set(`HEAD ${e.url}`, API_AUTH[name]);
  }

  app.addHook('onRequest', async (req, reply) => {
    const who = auth.get(`${req.method} ${req.routeOptions.url}`);
    if (!who || who === 'none') return;
    const limiter = ctx.store.webAuth.limiter;
    const presented = bearer(req) !== undefined;
    try {
      const v = presented ? limiter.checkToken(req.ip) : { allow: true as const };
      if (!v.allow) throw rateLimited(v, 'wrong tokens');
      try {
        if (who === 'device') requireDevice(ctx.store.registry, req);
        else ctx.store.admin.requireAdmin(req);
      } catch (e) {
        // Only a wrong secret counts (not a missing one, nor a disabled laptop's right one).
        if (presented && e instanceof AppError && e.code === 'unauthorized') limiter.failToken(req.ip);
        throw e;
      }
    } catch (e) {
      if (hasBody(req)) reply.header('connection', 'close');
      throw e;
    }
  });

  // Throttled uploads may legitimately go slower than BODY_MIN_RATE: the floor follows the cap.
  const cap = ctx.bandwidth.rate > 0 ? ctx.bandwidth.rate / Math.max(1, ctx.config.maxConcurrent) / 2 : Infinity;
  const minRate = Math.max(1024, Math.min(BODY_MIN_RATE, cap));
  app.addHook('preParsing', async (req, _reply, payload) => {
    if (!hasBody(req)) return payload;
    const declared = Number(req.headers['content-length']);
    const bytes = Number.isSafeInteger(declared) ? declared : (req.routeOptions.bodyLimit ?? JSON_BODY);
    const ms = (ctx.config.bodyGraceSec + bytes / minRate) * 1000;
    const timer = setTimeout(() => {
      req.log.warn({ url: req.url, ms }, 'request body too slow: connection closed');
      req.raw.socket?.destroy?.();
    }, ms);
    timer.unref();
    const done = () => clearTimeout(timer);
    req.raw.once('end', done);
    req.raw.once('close', done);
    return payload;
  });
}
