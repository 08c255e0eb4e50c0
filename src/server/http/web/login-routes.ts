/**
 * login-routes — signing in and out.
 *
 *   GET  /ui/login            serial + restore code form (?next=page asked for, ?ended=1 the session ended)
 *   POST /ui/login            → session for the laptop's account, then the page asked for
 *   GET  /ui/link/:token      one-time link from `ds-backup restore --web` → session; signed in to
 *                             another account: a page asking first (the link stays unused)
 *   POST /ui/link/:token      the answer "yes, switch" (CSRF) → session, 303 to the laptop's page
 *   GET  /ui/admin/login      admin password form (says how to set one if none)
 *   POST /ui/admin/login      → admin session
 *   POST /ui/logout           ends the session
 *
 * Sign-in forms carry the CSRF token of a short anonymous session; a
 * successful sign-in always starts a new session id (no fixation). Failed
 * attempts count per address and per account (accounts/limits.ts: a guesser
 * is slowed, the owner elsewhere is not); past a limit the form answers 429
 * with Retry-After without checking the secret (guarded(), the one preamble). A code typed with spaces
 * or dashes ("123 456") is accepted; an empty form says what is missing
 * (400, not counted as a failed attempt). `next` is followed only when it
 * is a page of the signed-in account (kit.safeNext).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { canonicalSerial } from '../../../protocol/names.js';
import { retryAfterSec } from '../../accounts/limits.js';
import type { DeviceRow } from '../../catalog/catalog.js';
import { html } from './html.js';
import { formString, safeNext, type WebKit, type WebReq } from './kit.js';

export function loginRoutes(app: FastifyInstance, kit: WebKit): void {
  const { store } = kit.ctx;
  const limiter = kit.auth.limiter;

  /**
   * The one sign-in preamble: the limits (accounts/limits.ts) for this
   * address and account, then the secret. Limited: the form again with 429
   * and Retry-After (the secret not even looked at); wrong: 401. Returns
   * null when the secret was right.
   */
  const guarded = (
    req: FastifyRequest,
    reply: FastifyReply,
    w: WebReq,
    account: string,
    verify: () => boolean,
    form: (msg: string, status: number) => FastifyReply,
    wrong: 'badLogin' | 'badPassword' | 'linkExpired',
  ): FastifyReply | null => {
    const r = limiter.attempt(req.ip, account, verify);
    if (r.result === 'ok') return null;
    if (r.result === 'limited') {
      const sec = retryAfterSec(r.verdict.retryAfterMs);
      req.log.warn({ account, ip: req.ip, reason: r.verdict.reason }, 'web sign-in rate-limited');
      reply.header('Retry-After', String(sec));
      return form(w.t('tooManyAttempts', { minutes: Math.ceil(sec / 60) }), 429);
    }
    req.log.warn({ account, ip: req.ip }, 'web sign-in failed');
    return form(w.t(wrong), 401);
  };

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
    const typed = formString(req.body, 'serial', 64).replace(/\s+/g, '');
    const serial = canonicalSerial(typed) ?? typed.toUpperCase();
    // `pin`: the field's name before the rename (a page loaded before an upgrade).
    const code = (formString(req.body, 'restoreCode', 32) || formString(req.body, 'pin', 32)).replace(/[\s-]+/g, '');
    const next = nextOf(formString(req.body, 'next', 500));
    if (!serial || !code) return studentForm(req, reply, w, w.t(serial ? 'needCode' : 'needSerial'), 400, serial, next);
    const dev = store.registry.bySerial(serial);
    const refused = guarded(
      req,
      reply,
      w,
      serial,
      () => Boolean(dev && !dev.disabled && store.restoreCodes.check(dev.serial, code)),
      (msg, status) => studentForm(req, reply, w, msg, status, serial, next),
      'badLogin',
    );
    return refused ?? start(req, reply, w, 'student', dev!.account_id, dev!.serial, next);
  });

  /**
   * The laptop of a one-time link (consumed or only looked at), under the
   * limits of the address (a link belongs to no account until it is right);
   * otherwise the sign-in form with the reason.
   */
  const linkDevice = (req: FastifyRequest, reply: FastifyReply, w: WebReq, consume: boolean) => {
    const { token } = req.params as { token: string };
    let dev: DeviceRow | undefined;
    const refused = guarded(
      req,
      reply,
      w,
      '',
      () => {
        const serial = consume ? kit.auth.consumeLink(token) : kit.auth.peekLink(token);
        dev = serial ? store.registry.bySerial(serial) : undefined;
        return Boolean(dev && !dev.disabled);
      },
      (msg, status) => studentForm(req, reply, w, msg, status),
      'linkExpired',
    );
    return refused ?? (dev as DeviceRow);
  };

  // Signed in to another account (or as the admin): ask before switching (issue #16 §9).
  app.get<{ Params: { token: string } }>('/link/:token', async (req, reply) => {
    const w = kit.req(req);
    const dev = linkDevice(req, reply, w, false);
    if (!('account_id' in dev)) return dev;
    const s = w.session;
    if (s && s.kind !== 'anon' && (s.kind === 'admin' || s.accountId !== dev.account_id)) {
      const vars = { current: s.kind === 'admin' ? w.t('theAdmin') : (s.serial ?? ''), serial: dev.serial };
      const body = html`<p class="msg">${w.t('switchAsk', vars)}</p>
        <form method="post" action="/ui/link/${req.params.token}">
          ${kit.csrfField(w)}<button type="submit">${w.t('switchYes', vars)}</button>
          <a class="button light" href="/">${w.t('cancel')}</a>
        </form>`;
      return kit.send(reply, w, w.t('switchTitle'), body, kit.nav(w));
    }
    const used = linkDevice(req, reply, w, true);
    return 'account_id' in used ? start(req, reply, w, 'student', used.account_id, used.serial) : used;
  });

  app.post<{ Params: { token: string }; Body: Record<string, unknown> }>('/link/:token', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    const dev = linkDevice(req, reply, w, true);
    return 'account_id' in dev ? start(req, reply, w, 'student', dev.account_id, dev.serial) : dev;
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
    const next = nextOf(formString(req.body, 'next', 500));
    const password = formString(req.body, 'password', 1000);
    if (!password) return adminForm(req, reply, w, w.t('needPassword'), 400, next);
    const refused = guarded(
      req,
      reply,
      w,
      'admin',
      () => store.admin.checkPassword(password),
      (msg, status) => adminForm(req, reply, w, msg, status, next),
      'badPassword',
    );
    return refused ?? start(req, reply, w, 'admin', null, null, next);
  });

  app.post<{ Body: Record<string, unknown> }>('/logout', async (req, reply) => {
    const w = kit.req(req);
    kit.checkCsrf(w, req.body);
    kit.auth.endSession(w.sessionId);
    kit.clearSession(reply);
    return reply.redirect('/ui/login', 303);
  });
}
