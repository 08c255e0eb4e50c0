/**
 * http-errors — the one HTTP error handler.
 *
 * Every error leaves as JSON `{ error, message }` (plus `details` when the
 * error carries them) with the status of its code (common/errors.ts). Schema
 * validation failures are 400 bad_request, oversized bodies 413 too_large,
 * unknown routes 404 not_found; anything unexpected is logged and answered
 * 500 internal without internals.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, diskFull, isDiskFull } from '../../platform/errors.js';
import type { ErrorBody } from '../../protocol/api-types.js';

function fromFastify(err: FastifyError): AppError | null {
  if (err.validation) return new AppError('bad_request', `invalid request: ${err.message}`);
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('too_large', 'request body too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('bad_request', 'unsupported content type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('bad_request', 'body is not valid JSON');
  }
  if (err.statusCode === 400) return new AppError('bad_request', err.message);
  if (err.statusCode === 413) return new AppError('too_large', err.message);
  if (err.statusCode === 415) return new AppError('bad_request', err.message);
  return null;
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const e = err instanceof AppError ? err : isDiskFull(err) ? diskFull() : fromFastify(err);
    if (e?.code === 'disk_full') req.log.error({ err, url: req.url }, 'disk full');
    if (!e) {
      req.log.error({ err }, 'unexpected error');
      return reply.status(500).send({ error: 'internal', message: 'internal server error' });
    }
    if (e.retryAfter !== undefined) reply.header('Retry-After', String(e.retryAfter));
    if (!req.raw.complete) {
      // The body was not read to its end (refused early, or its write failed): this connection
      // carries no next request. Close it once the answer is out, whatever the client does.
      reply.header('connection', 'close');
      reply.raw.once('finish', () => setTimeout(() => req.raw.socket?.destroy?.(), 2000).unref());
    }
    const body: ErrorBody = { error: e.code, message: e.message };
    if (e.details) body.details = e.details;
    return reply.status(e.status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ error: 'not_found', message: `no such endpoint: ${req.method} ${req.url.split('?')[0]}` });
  });
}
