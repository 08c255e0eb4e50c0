/**
 * auth — who is calling. Devices present `Authorization: Bearer <token>`;
 * requireDevice() resolves it to the device row or answers 401 (missing or
 * wrong token) / 403 (disabled device). Nothing else identifies a caller.
 */
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../platform/errors.js';
import type { DeviceRow } from '../catalog/catalog.js';
import type { Registry } from './registry.js';

export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1] : undefined;
}

/** Devices resolved by the onRequest hook (http/guard.ts), before the body is read. */
const resolved = new WeakMap<FastifyRequest, DeviceRow>();

export function requireDevice(registry: Registry, req: FastifyRequest): DeviceRow {
  const early = resolved.get(req);
  if (early) return early;
  const token = bearer(req);
  if (!token) throw new AppError('unauthorized', 'missing bearer token; register this laptop first');
  const dev = registry.authenticate(token);
  if (!dev) throw new AppError('unauthorized', 'unknown or wrong token');
  if (dev.disabled) throw new AppError('device_disabled', `laptop ${dev.serial} is disabled on this server`);
  resolved.set(req, dev);
  return dev;
}
