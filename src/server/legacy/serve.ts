/**
 * legacy/serve — what `serve` starts for old laptops besides the routes:
 * the completion-flag watcher on `completionDir`, and, when
 * `legacyRegistrationPort` is set, a second listener that serves only
 * Sugar's XML-RPC registration at POST / (production: port 8080).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { BuiltServer } from '../http/app.js';
import { installErrorHandler } from '../http/http-errors.js';
import { CompletionWatcher } from './completion.js';
import { registrationPlugin } from './routes.js';

export interface LegacyServices {
  watcher: CompletionWatcher;
  registration: FastifyInstance | null;
  close(): Promise<void>;
}

export async function startLegacy(built: BuiltServer, opts: { host?: string } = {}): Promise<LegacyServices> {
  const { ctx, app } = built;
  const watcher = new CompletionWatcher(ctx, ctx.config.completionDir, app.log).start();
  let registration: FastifyInstance | null = null;
  if (ctx.config.legacyRegistrationPort) {
    registration = Fastify({ loggerInstance: app.log });
    installErrorHandler(registration);
    registration.removeAllContentTypeParsers();
    await registration.register(registrationPlugin, { ctx });
    await registration.listen({ port: ctx.config.legacyRegistrationPort, host: opts.host ?? ctx.config.host });
    app.log.info({ port: ctx.config.legacyRegistrationPort }, 'legacy XML-RPC registration listening');
  }
  return {
    watcher,
    registration,
    close: async () => {
      await watcher.stop();
      await registration?.close();
    },
  };
}
