/**
 * http-errors — the one HTTP error handler.
 *
 * Every error leaves as JSON `{ error, message }` (plus `details` when the
 * error carries them) with the status of its code (common/errors.ts). Schema
 * validation failures are 400 bad_request, oversized bodies 413 too_large,
 * unknown routes 404 not_found, and every other client-caused error of
 * Fastify (content types, body parsing, URLs) a 4xx (clientError); anything
 * unexpected is logged and answered 500 internal without internals.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, diskFull, isDiskFull } from '../../platform/errors.js';
import type { ErrorBody } from '../../protocol/api-types.js';

/**
 * The client-caused errors of Fastify and its plugins (schema validation,
 * FST_ERR_CTP_* body parsing, content types, sizes, bad URLs and query
 * strings, form parsing) as AppErrors: any 4xx status they carry stays a 4xx
 * `{error, message}`. null for anything else (a server fault).
 */
export function clientError(err: FastifyError): AppError | null {
  if (err.validation) return new AppError('bad_request', `invalid request: ${err.message}`);
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('too_large', 'request body too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('bad_request', 'unsupported content type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('bad_request', 'body is not valid JSON');
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new AppError('bad_request', 'malformed URL (bad percent-encoding or too long)');
  }
  const status = err.statusCode ?? 0;
  if (status === 413) return new AppError('too_large', 'request body too large');
  if (status === 415) return new AppError('bad_request', 'unsupported content type');
  if (status === 401) return new AppError('unauthorized', err.message);
  if (status === 403) return new AppError('forbidden', err.message);
  if (status === 404) return new AppError('not_found', err.message);
  if (status === 429) return new AppError('rate_limited', err.message);
  if (status >= 400 && status < 500) return new AppError('bad_request', err.message);
  return null;
}

/**
 * Fastify's `frameworkErrors` (a URL it cannot decode, before any route or
 * error handler runs): 400 as JSON, or as a short HTML page under /ui.
 */
export function frameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const e = clientError(err) ?? new AppError('bad_request', 'malformed request');
  reply.header('connection', 'close');
  if (req.url.startsWith('/ui')) {
    void reply
      .status(e.status)
      .type('text/html; charset=utf-8')
      .send(
        `<!DOCTYPE html><html><head><title>Bad request</title></head><body><p>${e.message}</p><p><a href="/ui/">ds-backup</a></p></body></html>\n`,
      );
    return;
  }
  const body: ErrorBody = { error: e.code, message: e.message };
  void reply.status(e.status).send(body);
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const e = err instanceof AppError ? err : isDiskFull(err) ? diskFull() : clientError(err);
    if (e?.code === 'disk_full') req.log.error({ err, url: req.url }, 'disk full');
    if (!e) {
      req.log.error({ err }, 'unexpected error');
      return reply.status(500).send({ error: 'internal', message: 'internal server error' });
    }
    if (e.retryAfter !== undefined) reply.header('Retry-After', String(e.retryAfter));
    if (!req.raw.complete) {
      // The body was not read to its end (refused early, or its write failed): this connection
      // carries no next request. Close it once the answer is out, whatever the client does
      // (app.inject's socket has no destroy: tests that outlive the timer must not crash).
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
