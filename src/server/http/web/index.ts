/**
 * web — the restore pages (students) and the dashboard (admin), rendered on
 * the server under /ui, plus the two device API calls they need.
 *
 * webRoutes() registers, in its own encapsulated scope under /ui: cookie and
 * form-body parsing, an HTML error handler (AppError → page with its status;
 * SignInNeeded → 303 to the sign-in page), and the route groups. Pins come
 * through a PinsPort (CatalogPins: the cleanup's pins).
 */
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import { clientError } from '../http-errors.js';
import type { ServerContext } from '../context.js';
import { adminRoutes } from './admin-routes.js';
import { deviceWebApi } from './device-api.js';
import { documentsRoutes } from './documents-routes.js';
import { downloadRoutes } from './download-routes.js';
import { html } from './html.js';
import type { MessageKey } from './i18n/index.js';
import { SignInNeeded, WebKit, type WebReq } from './kit.js';
import { loginRoutes } from './login-routes.js';
import { CatalogPins, type PinsPort } from './pins-port.js';
import { studentRoutes } from './student-routes.js';

/**
 * An error as a page in the reader's language: a title by status, the
 * error's sentence (our AppErrors carry translated ones), a way back.
 */
function errorPage(kit: WebKit, reply: FastifyReply, w: WebReq, status: number, message?: string): FastifyReply {
  const known = [400, 403, 404, 429] as const;
  const key = (known as readonly number[]).includes(status)
    ? (`err_${status as (typeof known)[number]}` as const)
    : status < 500
      ? ('err_400' as const)
      : ('err_500' as const);
  const s = w.session;
  const home = s?.kind === 'admin' ? '/ui/admin' : s?.kind === 'student' ? `/ui/j/${s.serial ?? ''}` : '/ui/login';
  const body = html`<p class="msg err">${message ?? w.t(`${key}_text` as MessageKey)}</p>
    <p><a class="button" href="${home}">${s && s.kind !== 'anon' ? w.t('backHome') : w.t('goSignIn')}</a></p>`;
  return kit.send(reply, w, w.t(key as MessageKey), body, kit.nav(w), status);
}

export function webRoutes(app: FastifyInstance, ctx: ServerContext, pins: PinsPort = new CatalogPins(ctx.store)): void {
  const kit = new WebKit(ctx, ctx.store.webAuth);
  deviceWebApi(app, ctx, ctx.store.webAuth);
  app.get('/', async (_req, reply) => reply.redirect('/ui/', 303));
  app.get('/favicon.ico', async (_req, reply) => reply.status(204).header('Cache-Control', 'max-age=86400').send());
  app.register(
    async (web) => {
      await web.register(fastifyCookie);
      await web.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
      web.setErrorHandler((err: FastifyError, req, reply) => {
        if (err instanceof SignInNeeded) return reply.redirect(err.to, 303);
        const w = kit.req(req);
        // Client-caused errors (bad forms, content types, sizes…) stay 4xx pages (http-errors.ts clientError).
        const c = err instanceof AppError ? null : clientError(err);
        const e =
          err instanceof AppError
            ? err
            : c?.code === 'bad_request'
              ? new AppError('bad_request', w.t('badRequest'))
              : c;
        if (!e) req.log.error({ err }, 'unexpected error in web page');
        return errorPage(kit, reply, w, e ? e.status : 500, e?.message);
      });
      web.setNotFoundHandler((req, reply) => errorPage(kit, reply, kit.req(req), 404));
      loginRoutes(web, kit);
      studentRoutes(web, kit, pins);
      downloadRoutes(web, kit);
      documentsRoutes(web, kit);
      adminRoutes(web, kit);
    },
    { prefix: '/ui' },
  );
}
