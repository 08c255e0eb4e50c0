/**
 * routes/devices — POST /api/v1/devices: register a laptop.
 * Body {serial, nickname}; a serial already registered needs that laptop's
 * own token as Bearer (re-registration rotates it). The token is in the
 * answer once and never again. `replaces` + `restoreCode` (the old laptop's
 * restore code, or an admin approval instead) puts a new laptop into the old
 * one's account (web/replacement.ts). `pin` is the old name of `restoreCode`,
 * still accepted from agents installed before the rename. With config `enrollmentKey` set, a new
 * laptop needs the key in X-Enrollment-Key (accounts/enrollment.ts).
 * Registrations are limited per address and for the whole server
 * (accounts/limits.ts REGISTER_*): past them, 429 rate_limited with
 * Retry-After before the body is read. The serial is canonicalSerial()'s.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import { API } from '../../../protocol/api.js';
import type { RegisterRequest } from '../../../protocol/api-types.js';
import { canonicalSerial } from '../../../protocol/names.js';
import { REGISTER_BODY } from '../../../protocol/limits.js';
import { bearer } from '../../accounts/auth.js';
import { checkEnrollment } from '../../accounts/enrollment.js';
import { rateLimited, RegisterLimiter } from '../../accounts/limits.js';
import type { ServerContext } from '../context.js';
import { replacementAccount } from '../web/replacement.js';

export function deviceRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const limiter = new RegisterLimiter();
  app.post<{ Body: RegisterRequest }>(
    API.register.url,
    {
      bodyLimit: REGISTER_BODY,
      // Before the body is read: a flood of registrations costs nothing (429 + Retry-After).
      onRequest: async (req, reply) => {
        const v = limiter.take(req.ip);
        if (v.allow) return;
        req.log.warn({ ip: req.ip, reason: v.reason }, 'registration rate-limited');
        reply.header('connection', 'close');
        throw rateLimited(v, 'registrations');
      },
      schema: {
        body: {
          type: 'object',
          required: ['serial'],
          additionalProperties: false,
          properties: {
            serial: { type: 'string', maxLength: 64 },
            nickname: { type: 'string', maxLength: 200 },
            replaces: { type: 'string', maxLength: 64 },
            restoreCode: { type: 'string', maxLength: 32 },
            pin: { type: 'string', maxLength: 32 },
          },
        },
      },
    },
    async (req, reply) => {
      const { nickname = '' } = req.body;
      const serial = canonicalSerial(req.body.serial);
      if (!serial)
        throw new AppError(
          'bad_request',
          `serial ${JSON.stringify(req.body.serial)} is not a laptop serial number (3–32 letters and digits)`,
        );
      checkEnrollment(ctx.config.enrollmentKey, ctx.store.registry, req, serial, ctx.store.webAuth.limiter);
      const account = req.body.replaces
        ? replacementAccount(ctx, serial, req.body.replaces, req.body.restoreCode ?? req.body.pin ?? '', req.ip)
        : undefined;
      const r = ctx.store.registry.register({ serial, nickname: nickname.trim(), presented: bearer(req), account });
      req.log.info({ serial, created: r.created }, 'device registered');
      return reply
        .status(r.created ? 201 : 200)
        .send({ serial, nickname: r.device.nickname, token: r.token, created: r.created });
    },
  );
}
