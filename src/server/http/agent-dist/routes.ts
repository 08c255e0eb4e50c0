/**
 * routes — the school server hands out the laptop agent (no internet needed):
 *
 *   GET /agent/              a page with the install line, in the page's language (page.ts)
 *   GET /agent/install       the install script (install-script.ts), templated with this
 *                            server's URL as the request reached it
 *   GET /agent/ds-backup.mjs the agent bundle (bundle.ts); X-Agent-Version, X-Agent-SHA256
 * and, registered in app.ts, the `agent` field of GET /api/v1/ping
 * ({version, sha256, path}) that installed agents upgrade from.
 *
 * The URL: "http(s)://" + the Host header when it is a plain host name or
 * address with an optional port (anything else is not trusted), else config
 * `publicHost` with the listening port; neither → 400.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import type { ServerContext } from '../context.js';
import { AgentBundles, BUNDLE_PATH, type AgentBundle } from './bundle.js';
import { installScript } from './install-script.js';
import { agentPage } from './page.js';

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/** host name, IPv4 or [IPv6], then an optional :port — nothing that could mean anything to sh or HTML. */
const HOST = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9A-Fa-f:.]{2,45}\\])(?::\\d{1,5})?$`);

/** This server's URL as the laptop reaches it (no trailing slash). */
export function serverUrl(req: FastifyRequest, ctx: ServerContext): string {
  const host = req.headers.host;
  if (host && HOST.test(host)) return `${req.protocol}://${host}`;
  const pub = ctx.config.publicHost;
  if (pub && HOST.test(pub)) return `http://${/:\d+$/.test(pub) ? pub : `${pub}:${ctx.config.port}`}`;
  throw new AppError('bad_request', 'the Host header is missing or not a host name; set publicHost in the config');
}

function requireBundle(bundles: AgentBundles): AgentBundle & { version: string } {
  const b = bundles.current();
  if (!b?.version)
    throw new AppError(
      'not_found',
      `this server has no agent to hand out (${bundles.file()} is missing or has no version line): run npm run build`,
    );
  return b as AgentBundle & { version: string };
}

const plain = (reply: FastifyReply, type: string) =>
  reply.header('Cache-Control', 'no-store').header('X-Content-Type-Options', 'nosniff').type(type);

/** Registers the routes; answers the bundles so app.ts can put the offer into the ping answer. */
export function agentDistRoutes(app: FastifyInstance, ctx: ServerContext): AgentBundles {
  const bundles = new AgentBundles(ctx.config);
  app.get('/agent', async (_req, reply) => reply.redirect('/agent/', 301));
  app.get('/agent/', async (req, reply) => {
    const b = bundles.current();
    const page = agentPage(req.headers['accept-language'], serverUrl(req, ctx), {
      version: b?.version ?? null,
      sha256: b?.sha256 ?? null,
      enrollRequired: Boolean(ctx.config.enrollmentKey),
    });
    return plain(reply, 'text/html; charset=utf-8')
      .header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
      .send(page);
  });
  app.get('/agent/install', async (req, reply) => {
    const b = requireBundle(bundles);
    const script = installScript({
      server: serverUrl(req, ctx),
      version: b.version,
      sha256: b.sha256,
      enrollRequired: Boolean(ctx.config.enrollmentKey),
    });
    return plain(reply, 'text/x-shellscript; charset=utf-8').send(script);
  });
  app.get(BUNDLE_PATH, async (_req, reply) => {
    const b = requireBundle(bundles);
    return plain(reply, 'text/javascript; charset=utf-8')
      .header('X-Agent-Version', b.version)
      .header('X-Agent-SHA256', b.sha256)
      .send(b.bytes);
  });
  return bundles;
}
