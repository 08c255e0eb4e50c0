/**
 * routes/pins — an account keeps what matters beyond the thinning rule.
 *
 *   GET    /api/v1/pins                  the account's pins (manual and starred-entry auto pins)
 *   POST   /api/v1/pins                  {snapshot, serial?} or {entry: uid, version?} → 201 pin
 *   DELETE /api/v1/pins/:id              204
 *
 * Device token; a device sees and changes only its own account's pins.
 * An entry pin keeps that entry version restorable after every snapshot
 * holding it is gone (see pins.ts); `version` may be a prefix of 8+ chars.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import { API } from '../../../protocol/api.js';
import { canonicalSerial, SERIAL_RE, SNAPSHOT_NAME_RE } from '../../../protocol/names.js';
import type { PinsAnswer, PinView } from '../../../protocol/api-types.js';
import { requireDevice } from '../../accounts/auth.js';
import type { ServerContext } from '../context.js';
import { Pins, type Pin } from '../../retention/pins.js';

export function pinView(p: Pin): PinView {
  return {
    id: p.id,
    kind: p.kind,
    auto: p.auto,
    createdAt: p.createdAt,
    serial: p.serial,
    snapshot: p.snapshot ?? null,
    source: p.source ?? null,
    uid: p.uid ?? null,
    version: p.version ?? null,
    layout: p.layout ?? null,
    title: p.title ?? null,
    bytes: p.blobs.reduce((a, b) => a + b[1], 0),
    dir: p.dir ?? null,
    files: p.files ?? null,
  };
}

export function pinRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const pins = new Pins(ctx.store);
  pins.reload();
  app.get(API.pins.url, async (req): Promise<PinsAnswer> => {
    const dev = requireDevice(ctx.store.registry, req);
    return { pins: pins.list(dev.account_id).map(pinView) };
  });

  app.post<{ Body: { snapshot?: string; serial?: string; entry?: string; version?: string } }>(
    API.addPin.url,
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            snapshot: { type: 'string', pattern: SNAPSHOT_NAME_RE.source },
            serial: { type: 'string', pattern: SERIAL_RE.source },
            entry: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' },
            version: { type: 'string', pattern: '^[0-9a-f]{8,64}$' },
          },
        },
      },
    },
    async (req, reply) => {
      const dev = requireDevice(ctx.store.registry, req);
      const b = req.body;
      if (Boolean(b.snapshot) === Boolean(b.entry)) throw new AppError('bad_request', 'give either snapshot or entry');
      const pin = b.snapshot
        ? pins.pinSnapshot(dev.account_id, canonicalSerial(b.serial) ?? dev.serial, b.snapshot)
        : await pins.pinEntry(dev.account_id, b.entry!, b.version);
      req.log.info({ serial: dev.serial, pin: pin.id, kind: pin.kind }, 'pinned');
      return reply.status(201).send(pinView(pin));
    },
  );

  app.delete<{ Params: { id: string } }>(
    API.removePin.url,
    {
      schema: {
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9a-f]{12}$' } } },
      },
    },
    async (req, reply) => {
      const dev = requireDevice(ctx.store.registry, req);
      const pin = pins.remove(dev.account_id, req.params.id);
      req.log.info({ serial: dev.serial, pin: pin.id }, 'unpinned');
      return reply.status(204).send();
    },
  );
}
