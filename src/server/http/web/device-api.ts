/**
 * device-api — what a laptop asks about the web pages, with its token:
 *
 *   POST /api/v1/web-links   → {path, expiresAt}: a one-time sign-in link
 *                              (single use, LINK_MS, only its hash stored);
 *                              the agent opens <server><path>
 *   GET  /api/v1/restore-code → {serial, restoreCode}: the laptop's 6-digit
 *                              restore code, for `ds-backup status` and
 *                              signing in elsewhere
 *   GET  /api/v1/pin         → {serial, pin}: the same, under its old name,
 *                              for agents installed before the rename
 */
import type { FastifyInstance } from 'fastify';
import { API } from '../../../protocol/api.js';
import type { RestoreCodeAnswer, RestorePinAnswer } from '../../../protocol/api-types.js';
import { requireDevice } from '../../accounts/auth.js';
import type { ServerContext } from '../context.js';
import type { WebAuth } from './web-auth.js';

export function deviceWebApi(app: FastifyInstance, ctx: ServerContext, auth: WebAuth): void {
  app.post(API.webLink.url, async (req, reply) => {
    const dev = requireDevice(ctx.store.registry, req);
    const { token, expiresAt } = auth.createLink(dev.serial);
    req.log.info({ serial: dev.serial }, 'one-time web link issued');
    return reply.status(201).send({ path: `/ui/link/${token}`, expiresAt });
  });

  app.get(API.restoreCode.url, async (req): Promise<RestoreCodeAnswer> => {
    const dev = requireDevice(ctx.store.registry, req);
    return { serial: dev.serial, restoreCode: ctx.store.restoreCodes.get(dev.serial) };
  });

  app.get(API.restorePin.url, async (req): Promise<RestorePinAnswer> => {
    const dev = requireDevice(ctx.store.registry, req);
    return { serial: dev.serial, pin: ctx.store.restoreCodes.get(dev.serial) };
  });
}
