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
import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import type { ServerContext } from '../context.js';
import { adminRoutes } from './admin-routes.js';
import { deviceWebApi } from './device-api.js';
import { downloadRoutes } from './download-routes.js';
import { html } from './html.js';
import { SignInNeeded, WebKit } from './kit.js';
import { loginRoutes } from './login-routes.js';
import { CatalogPins, type PinsPort } from './pins-port.js';
import { studentRoutes } from './student-routes.js';

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
        const e =
          err instanceof AppError
            ? err
            : err.validation || err.statusCode === 400
              ? new AppError('bad_request', err.message)
              : null;
        if (!e) req.log.error({ err }, 'unexpected error in web page');
        const status = e ? e.status : 500;
        const msg = e ? e.message : 'internal server error';
        return kit.send(
          reply,
          w,
          status === 404 ? w.t('notFound') : String(status),
          html`<p class="msg err">${msg}</p>
            <p><a href="/ui/">${w.t('back')}</a></p>`,
          kit.nav(w),
          status,
        );
      });
      web.setNotFoundHandler((req, reply) => {
        const w = kit.req(req);
        return kit.send(reply, w, w.t('notFound'), html`<p><a href="/ui/">${w.t('back')}</a></p>`, kit.nav(w), 404);
      });
      loginRoutes(web, kit);
      studentRoutes(web, kit, pins);
      downloadRoutes(web, kit);
      adminRoutes(web, kit);
    },
    { prefix: '/ui' },
  );
}
