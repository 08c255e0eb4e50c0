/**
 * legacy/routes — what unchanged 2008–2013 XO laptops call over HTTP.
 *
 *   POST / (and /RPC2)              Sugar's XML-RPC `register(sn, nick, uuid, pubkey)` (text/xml)
 *   GET  /backup/1/available/<SN>   traffic control: 200 go · 403 unknown/malformed serial · 503 busy
 *
 * The availability check goes through the same Admission as the native
 * protocol (one set of slots). A granted slot becomes a *legacy lease*,
 * granted only to a laptop registered through Sugar with a key, never in
 * place of a live lease; it is held `legacyStartSec` until the laptop's
 * rsync session starts (the legacy shell touches SESSION_MARK), then
 * `legacyLeaseSec` from the grant (old clients never heartbeat), and
 * released when the laptop's completion flag has been processed
 * (completion.ts). Answers
 * are plain text; the old client looks only at the status code.
 *
 * registrationPlugin() is also mounted alone on the second listener
 * (`serve --legacy-registration-port N`).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../platform/errors.js';
import { SESSION_MARK } from './command-policy.js';
import type { ServerContext } from '../http/context.js';
import { checkRegistration, registerLegacy } from './registration.js';
import { legacySetup } from './setup.js';
import { FAULT, faultResponse, parseCall, structResponse, XmlRpcFault } from './xmlrpc.js';

/** Live legacy leases of one running server: serial → lease id. */
const legacyLeases = new WeakMap<ServerContext, Map<string, string>>();

export function leasesOf(ctx: ServerContext): Map<string, string> {
  let m = legacyLeases.get(ctx);
  if (!m) legacyLeases.set(ctx, (m = new Map()));
  return m;
}

/** Frees the slot a legacy laptop holds (after its completion flag). */
export function releaseLegacyLease(ctx: ServerContext, serial: string): boolean {
  const m = leasesOf(ctx);
  const id = m.get(serial);
  if (!id) return false;
  m.delete(serial);
  ctx.admission.release(id);
  return true;
}

function xml(reply: FastifyReply, body: string): FastifyReply {
  return reply.status(200).type('text/xml').send(body);
}

/** Makes the laptop's Unix account now, so its first backup works (serve --legacy-auto-setup, as root). */
function autoSetup(ctx: ServerContext, serial: string, req: FastifyRequest): void {
  try {
    const r = legacySetup(ctx.store, { completionDir: ctx.config.completionDir, only: serial });
    req.log.info({ serial, accounts: r.accounts, skipped: r.skipped }, 'legacy account set up');
  } catch (err) {
    req.log.error({ err, serial }, 'legacy auto setup failed; run ds-backup-server legacy setup');
  }
}

function handleRegister(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  let call;
  try {
    call = parseCall(typeof req.body === 'string' ? req.body : '');
    if (call.method !== 'register') throw new XmlRpcFault(FAULT.noMethod, `method ${call.method} not supported`);
    const reg = checkRegistration(call.params);
    const r = registerLegacy(ctx.store.registry, reg);
    const host = ctx.config.publicHost || req.hostname.replace(/:\d+$/, '');
    if (!r.ok) {
      req.log.warn({ serial: reg.serial, reason: r.reason }, 'legacy registration refused');
      return xml(reply, structResponse({ success: 'ERR', error: r.reason }));
    }
    req.log.info(
      { serial: reg.serial, created: r.created, keyChange: r.keyChange, reason: r.reason },
      'legacy registration',
    );
    if (ctx.config.legacyAutoSetup) autoSetup(ctx, reg.serial, req);
    return xml(
      reply,
      structResponse({
        success: 'OK',
        error: '',
        jabberserver: ctx.config.jabberServer,
        backupurl: `${reg.serial}@${host}:backup`,
      }),
    );
  } catch (e) {
    if (e instanceof XmlRpcFault) return xml(reply, faultResponse(e.faultCode, e.message));
    if (e instanceof AppError && e.code === 'bad_request')
      return xml(reply, faultResponse(FAULT.invalidParams, e.message));
    req.log.error({ err: e }, 'legacy registration failed');
    return xml(reply, faultResponse(FAULT.internal, 'internal server error'));
  }
}

/** POST / — XML-RPC registration, with its own text/xml body parser. */
export async function registrationPlugin(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  app.addContentTypeParser(
    ['text/xml', 'application/xml'],
    { parseAs: 'string', bodyLimit: 64 * 1024 },
    (_req, body, done) => done(null, body),
  );
  // Python's ServerProxy("http://host:port") (no path) posts to /RPC2.
  for (const path of ['/', '/RPC2'])
    app.post(path, { schema: { body: { type: 'string' } } }, (req, reply) => handleRegister(opts.ctx, req, reply));
}

export function legacyRoutes(app: FastifyInstance, ctx: ServerContext): void {
  void app.register(registrationPlugin, { ctx });
  const timer = setInterval(() => keepStartedSessions(ctx), 10_000);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
  app.get<{ Params: { sn: string } }>(
    '/backup/1/available/:sn',
    {
      schema: { params: { type: 'object', required: ['sn'], properties: { sn: { type: 'string', maxLength: 200 } } } },
    },
    async (req, reply) => {
      const dev = ctx.store.registry.bySerial(req.params.sn); // any case: the canonical laptop
      const sn = dev?.serial ?? '';
      // Only a laptop registered through Sugar with its key: a native laptop (or none) gets no slot here.
      if (!dev || dev.disabled || !dev.pubkey) return reply.status(403).type('text/plain').send('Forbidden\n');
      keepStartedSessions(ctx);
      const live = ctx.admission.leaseOf(dev.id);
      if (live) {
        // Never replace a live lease: the laptop's own legacy slot is confirmed, anything else waits.
        if (leasesOf(ctx).get(sn) === live.id) return reply.status(200).type('text/plain').send('OK\n');
        const wait = Math.max(1, Math.ceil((live.expiresAt - Date.now()) / 1000));
        return reply.status(503).header('Retry-After', String(wait)).type('text/plain').send('Service Unavailable\n');
      }
      try {
        const lease = ctx.admission.request(dev.id, sn, {
          lastSuccess: dev.last_backup_at,
          timeoutMs: ctx.config.legacyStartSec * 1000,
        });
        leasesOf(ctx).set(sn, lease.id);
        return reply.status(200).type('text/plain').send('OK\n');
      } catch (e) {
        if (!(e instanceof AppError) || e.code !== 'busy') throw e;
        if (e.retryAfter !== undefined) reply.header('Retry-After', String(e.retryAfter));
        return reply.status(503).type('text/plain').send('Service Unavailable\n');
      }
    },
  );
}

/**
 * A granted legacy slot lasts legacyStartSec unless the laptop's rsync
 * session starts in it (the legacy shell touches SESSION_MARK in its home);
 * then it lasts legacyLeaseSec from the grant, until the completion flag
 * releases it. Leases that ended are forgotten.
 */
export function keepStartedSessions(ctx: ServerContext): void {
  const live = new Map(ctx.admission.active().map((l) => [l.id, l]));
  for (const [sn, id] of leasesOf(ctx)) {
    const l = live.get(id);
    if (!l) {
      leasesOf(ctx).delete(sn);
      continue;
    }
    const full = l.grantedAt + ctx.config.legacyLeaseSec * 1000;
    if (l.expiresAt >= full) continue;
    let started = 0;
    try {
      started = statSync(join(ctx.store.root, 'users', sn, SESSION_MARK)).mtimeMs;
    } catch {
      /* no session yet */
    }
    if (started >= l.grantedAt - 1000) ctx.admission.extend(id, full);
  }
}
