/**
 * login-routes — signing in and out.
 *
 *   GET  /ui/login            serial + restore code form (?next=page asked for, ?ended=1 the session ended)
 *   POST /ui/login            → session for the laptop's account, then the page asked for
 *   GET  /ui/link/:token      one-time link from `ds-backup restore --web` → session
 *   GET  /ui/admin/login      admin password form (says how to set one if none)
 *   POST /ui/admin/login      → admin session
 *   POST /ui/logout           ends the session
 *
 * Sign-in forms carry the CSRF token of a short anonymous session; a
 * successful sign-in always starts a new session id (no fixation). Failed
 * attempts count per IP and per serial (rate-limit.ts); past the limit the
 * form answers 429 without checking the secret. A code typed with spaces
 * or dashes ("123 456") is accepted; an empty form says what is missing
 * (400, not counted as a failed attempt). `next` is followed only when it
 * is a page of the signed-in account (kit.safeNext).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isSerial } from '../../../protocol/names.js';
import { html } from './html.js';
import { formString, safeNext, type WebKit, type WebReq } from './kit.js';

const tooMany = (w: WebReq, ms: number) => w.t('tooManyAttempts', { minutes: Math.ceil(ms / 60_000) });

export function loginRoutes(app: FastifyInstance, kit: WebKit): void {
  const { store } = kit.ctx;
  const limiter = kit.auth.limiter;

  const nextOf = (v: unknown) => (typeof v === 'string' ? v.slice(0, 500) : '');
  const studentForm = (
    req: FastifyRequest,
    reply: FastifyReply,
    w: WebReq,
    msg = '',
    status = 200,
    serial = '',
    next = '',
  ) => {
    const s = kit.anonSession(req, reply, w);
    const body = html`${msg ? html`<p class="msg err" role="alert">${msg}</p>` : ''}
      <p>${w.t('signInHelp')}</p>
      <form method="post" action="/ui/login">
        <input type="hidden" name="_csrf" value="${s.csrf}" /><input type="hidden" name="next" value="${next}" />
        <p>
          <label
            >${w.t('serial')}<br /><input
              type="text"
              name="serial"
              value="${serial}"
              autocapitalize="characters"
              autocomplete="username"
          /></label>
        </p>
        <p>
          <label
            >${w.t('restoreCode')}<br /><input
              type="password"
              name="restoreCode"
              inputmode="numeric"
              autocomplete="current-password"
          /></label>
        </p>
        <p><button type="submit">${w.t('signIn')}</button></p>
      </form>
      <p class="small"><a href="/ui/admin/login">${w.t('adminSignIn')}</a></p>`;
    return kit.send(reply, { ...w, session: s }, w.t('signInTitle'), body, undefined, status);
  };

  const start = (
    req: FastifyRequest,
    reply: FastifyReply,
    w: WebReq,
    kind: 'student' | 'admin',
    accountId: number | null,
    serial: string | null,
    next = '',
  ) => {
    kit.auth.endSession(w.sessionId);
    const { id } = kit.auth.createSession(kind, accountId, serial);
    kit.setSession(req, reply, id);
    const home = kind === 'admin' ? '/ui/admin' : `/ui/j/${serial}`;
    const allowed = kind === 'admin' ? ['/ui/admin', '/ui/j'] : [home];
    return reply.redirect(safeNext(next, allowed) ?? home, 303);
  };

  app.get('/', async (req, reply) => {
    const s = kit.req(req).session;
    if (s?.kind === 'admin') return reply.redirect('/ui/admin', 303);
    if (s?.kind === 'student') return reply.redirect(`/ui/j/${s.serial}`, 303);
    return reply.redirect('/ui/login', 303);
  });

  type LoginQ = { Querystring: { next?: string; ended?: string } };
  const loginQuery = {
    querystring: {
      type: 'object',
      properties: { next: { type: 'string', maxLength: 500 }, ended: { type: 'string', maxLength: 2 } },
    },
  };
  app.get<LoginQ>('/login', { schema: loginQuery }, async (req, reply) => {
    const w = kit.req(req);
    return studentForm(req, reply, w, req.query.ended ? w.t('sessionExpired') : '', 200, '', nextOf(req.query.next));
  });

  app.post<{ Body: Record<string, unknown> }>('/login', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const serial = formString(req.body, 'serial', 64).replace(/\s+/g, '').toUpperCase();
    // `pin`: the field's name before the rename (a page loaded before an upgrade).
    const code = (formString(req.body, 'restoreCode', 32) || formString(req.body, 'pin', 32)).replace(/[\s-]+/g, '');
    const next = nextOf(formString(req.body, 'next', 500));
    if (!serial || !code) return studentForm(req, reply, w, w.t(serial ? 'needCode' : 'needSerial'), 400, serial, next);
    const keys = [`ip:${req.ip}`, `sn:${serial}`];
    const d = limiter.check(keys);
    if (!d.allow) return studentForm(req, reply, w, tooMany(w, d.retryAfterMs), 429, serial, next);
    const dev = isSerial(serial) ? store.registry.bySerial(serial) : undefined;
    if (!dev || dev.disabled || !store.restoreCodes.check(serial, code)) {
      limiter.fail(keys);
      req.log.warn({ serial, ip: req.ip }, 'web sign-in failed');
      return studentForm(req, reply, w, w.t('badLogin'), 401, serial, next);
    }
    limiter.succeed(`sn:${serial}`);
    return start(req, reply, w, 'student', dev.account_id, dev.serial, next);
  });

  app.get<{ Params: { token: string } }>('/link/:token', async (req, reply) => {
    const w = kit.req(req);
    const serial = kit.auth.consumeLink(req.params.token);
    const dev = serial ? store.registry.bySerial(serial) : undefined;
    if (!dev || dev.disabled) return studentForm(req, reply, w, w.t('linkExpired'), 401);
    return start(req, reply, w, 'student', dev.account_id, dev.serial);
  });

  const adminForm = (req: FastifyRequest, reply: FastifyReply, w: WebReq, msg = '', status = 200, next = '') => {
    if (!store.admin.hasPassword())
      return kit.send(
        reply,
        w,
        w.t('adminSignIn'),
        html`<p class="msg">${w.t('noAdminPassword', { root: store.root })}</p>`,
      );
    const s = kit.anonSession(req, reply, w);
    const body = html`${msg ? html`<p class="msg err" role="alert">${msg}</p>` : ''}
      <form method="post" action="/ui/admin/login">
        <input type="hidden" name="_csrf" value="${s.csrf}" /><input type="hidden" name="next" value="${next}" />
        <p>
          <label
            >${w.t('password')}<br /><input type="password" name="password" autocomplete="current-password"
          /></label>
        </p>
        <p><button type="submit">${w.t('signIn')}</button></p>
      </form>`;
    return kit.send(reply, { ...w, session: s }, w.t('adminSignIn'), body, undefined, status);
  };

  app.get<LoginQ>('/admin/login', { schema: loginQuery }, async (req, reply) => {
    const w = kit.req(req);
    return adminForm(req, reply, w, req.query.ended ? w.t('sessionExpired') : '', 200, nextOf(req.query.next));
  });

  app.post<{ Body: Record<string, unknown> }>('/admin/login', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const keys = [`ip:${req.ip}`, 'sn:(admin)'];
    const next = nextOf(formString(req.body, 'next', 500));
    const password = formString(req.body, 'password', 1000);
    if (!password) return adminForm(req, reply, w, w.t('needPassword'), 400, next);
    const d = limiter.check(keys);
    if (!d.allow) return adminForm(req, reply, w, tooMany(w, d.retryAfterMs), 429, next);
    if (!store.admin.checkPassword(password)) {
      limiter.fail(keys);
      req.log.warn({ ip: req.ip }, 'admin sign-in failed');
      return adminForm(req, reply, w, w.t('badPassword'), 401, next);
    }
    limiter.succeed('sn:(admin)');
    return start(req, reply, w, 'admin', null, null, next);
  });

  app.post<{ Body: Record<string, unknown> }>('/logout', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    kit.auth.endSession(w.sessionId);
    kit.clearSession(reply);
    return reply.redirect('/ui/login', 303);
  });
}
