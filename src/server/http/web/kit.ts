/**
 * kit — what every web route shares: the request's language, its session
 * (cookie → server-side row), the CSRF check, who may see which laptop,
 * and sending a page.
 *
 * Rules enforced here:
 *  - the session cookie is HttpOnly, SameSite=Lax, Path=/ui, Secure when
 *    the request came over https;
 *  - every POST carries `_csrf` equal to the session's token (constant-time
 *    compare), else 403;
 *  - a student session sees only laptops of its own account; the admin sees
 *    all; anyone else is sent to the sign-in page. A laptop the caller may
 *    not see answers 404 (whether it exists or not);
 *  - a page that needs signing in sends the visitor to the sign-in page
 *    with `next` (the page asked for) and `ended=1` when the request carried
 *    a session cookie that is no longer valid (the page says so).
 * Dates on every page: w.dates, in the server's time zone (config
 * timeZone, '' = the machine's) and the request's language.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import { isSerial } from '../../../protocol/names.js';
import type { DeviceRow } from '../../catalog/catalog.js';
import type { ServerContext } from '../context.js';
import { html, qs, type SafeHtml } from './html.js';
import { pickLanguage, translator, type Translate } from './i18n/index.js';
import { DateFmt, resolveTimeZone } from './dates.js';
import { layout } from './layout.js';
import { SESSION_MS, type Session, type WebAuth } from './web-auth.js';
import { safeEqual } from '../../accounts/tokens.js';

export const COOKIE = 'dsb_session';

export interface WebReq {
  t: Translate;
  lang: string;
  session: Session | null;
  sessionId: string | undefined;
  dates: DateFmt;
  /** The path and query asked for (to come back after signing in). */
  url: string;
}

/** A redirect to the sign-in page, thrown by routes that need a session. */
export class SignInNeeded extends Error {
  constructor(readonly to: string) {
    super('sign in needed');
  }
}

export class WebKit {
  readonly timeZone: string;

  constructor(
    readonly ctx: ServerContext,
    readonly auth: WebAuth,
  ) {
    this.timeZone = resolveTimeZone(ctx.config.timeZone);
  }

  req(req: FastifyRequest): WebReq {
    const lang = pickLanguage(req.headers['accept-language']);
    const sessionId = req.cookies?.[COOKIE];
    return {
      t: translator(lang),
      lang,
      session: this.auth.session(sessionId),
      sessionId,
      dates: new DateFmt(lang, this.timeZone),
      url: req.url.slice(0, 500),
    };
  }

  setSession(req: FastifyRequest, reply: FastifyReply, id: string): void {
    reply.setCookie(COOKIE, id, {
      path: '/ui',
      httpOnly: true,
      sameSite: 'lax',
      secure: req.protocol === 'https',
      // The cookie outlives the session by a week, so a visit after it ended can say so (ended=1).
      maxAge: SESSION_MS / 1000 + 7 * 86_400,
    });
  }

  clearSession(reply: FastifyReply): void {
    reply.clearCookie(COOKIE, { path: '/ui' });
  }

  /** A session for forms shown before signing in (CSRF on the sign-in forms). */
  anonSession(req: FastifyRequest, reply: FastifyReply, w: WebReq): Session {
    if (w.session) return w.session;
    const { id, session } = this.auth.createSession('anon', null, null);
    this.setSession(req, reply, id);
    return session;
  }

  checkCsrf(w: WebReq, body: unknown): void {
    const token = body && typeof body === 'object' ? (body as Record<string, unknown>)._csrf : undefined;
    if (!w.session || typeof token !== 'string' || !safeEqual(w.session.csrf, token))
      throw new AppError('forbidden', w.t('badCsrf'));
  }

  requireSignedIn(w: WebReq, kind?: 'admin'): Session {
    const s = w.session;
    const admin = kind === 'admin' || w.url.startsWith('/ui/admin');
    const to = (ended: boolean) =>
      new SignInNeeded(
        `${admin ? '/ui/admin/login' : '/ui/login'}${qs({ next: w.url.startsWith('/ui/') ? w.url : undefined, ended: ended ? 1 : undefined })}`,
      );
    if (!s || s.kind === 'anon') throw to(Boolean(w.sessionId) && !s);
    if (kind === 'admin' && s.kind !== 'admin') throw to(false);
    return s;
  }

  /** The laptop `serial` if the session may see it (own account, or admin); else 404. */
  device(w: WebReq, serial: string): DeviceRow {
    const s = this.requireSignedIn(w);
    const dev = isSerial(serial) ? this.ctx.store.registry.bySerial(serial) : undefined;
    if (!dev || (s.kind !== 'admin' && s.accountId !== dev.account_id))
      throw new AppError('not_found', w.t('notFound'));
    if (s.kind !== 'admin' && dev.disabled) throw new AppError('forbidden', w.t('forbidden'));
    return dev;
  }

  send(reply: FastifyReply, w: WebReq, title: string, body: SafeHtml, nav?: SafeHtml, status = 200): FastifyReply {
    const signedIn = Boolean(w.session && w.session.kind !== 'anon');
    return reply
      .status(status)
      .header('Cache-Control', 'no-store')
      .header('X-Frame-Options', 'DENY')
      .header(
        'Content-Security-Policy',
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
      )
      .type('text/html; charset=utf-8')
      .send(layout({ t: w.t, title, body, nav, csrf: w.session?.csrf, signedIn }).text);
  }

  nav(w: WebReq): SafeHtml {
    const s = w.session;
    if (!s || s.kind === 'anon') return html``;
    if (s.kind === 'admin') return html`<a href="/ui/admin">${w.t('dashboard')}</a>`;
    // A student's laptop is known: their Journal and its backups.
    return html`<a href="/ui/j/${s.serial ?? ''}">${w.t('myJournal')}</a
      ><a href="/ui/j/${s.serial ?? ''}/backups">${w.t('olderBackups')}</a
      ><a href="/ui/j/${s.serial ?? ''}/docs">${w.t('documentsFolder')}</a>`;
  }

  /** A hidden CSRF input for a form. */
  csrfField(w: WebReq): SafeHtml {
    return html`<input type="hidden" name="_csrf" value="${w.session?.csrf ?? ''}" />`;
  }
}

/** A place to go back to after signing in: a page of this site only (no //host, no other prefix). */
export function safeNext(next: string, allowed: string[]): string | null {
  if (!/^\/ui\/[A-Za-z0-9/_.:?=&%-]*$/.test(next) || next.includes('//') || next.includes('..')) return null;
  return allowed.some((p) => next === p || next.startsWith(`${p}/`) || next.startsWith(`${p}?`)) ? next : null;
}

export function formString(body: unknown, key: string, max = 200): string {
  const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[key] : undefined;
  return typeof v === 'string' ? v.slice(0, max) : '';
}
