/**
 * routes/reports — a laptop tells the server why its scheduled backup did
 * not happen, so the admin sees it on the dashboard without visiting it:
 *
 *   POST /api/v1/reports   {outcome: failed|busy|skipped, reason, at?} → 204
 *
 * Device token. The reason is the agent's own sentence ("server busy:
 * load", "disk full", "hash mismatch…"), cut to REPORT_REASON_KEPT characters and shown
 * escaped; `at` is ignored when it is in the future or older than a week
 * (the server's clock is used instead). Repeats of the same outcome and
 * reason only bump the time and count (web-dashboard.ts).
 */
import type { FastifyInstance } from 'fastify';
import { API } from '../../../protocol/api.js';
import type { ReportRequest } from '../../../protocol/api-types.js';
import { REPORT_AGE_MAX_MS, REPORT_REASON_KEPT, REPORT_REASON_MAX } from '../../../protocol/limits.js';
import { requireDevice } from '../../accounts/auth.js';
import { DashboardCatalog } from '../../catalog/web-dashboard.js';
import type { ServerContext } from '../context.js';

export function reportRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const dash = new DashboardCatalog(ctx.store.db);
  app.post<{ Body: ReportRequest }>(
    API.report.url,
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['outcome', 'reason'],
          properties: {
            outcome: { type: 'string', enum: ['failed', 'busy', 'skipped'] },
            reason: { type: 'string', maxLength: REPORT_REASON_MAX },
            at: { type: 'integer', minimum: 0 },
          },
        },
      },
    },
    async (req, reply) => {
      const dev = requireDevice(ctx.store.registry, req);
      const now = Date.now();
      const at =
        req.body.at !== undefined && req.body.at <= now && req.body.at > now - REPORT_AGE_MAX_MS ? req.body.at : now;
      const reason = req.body.reason.replace(/\s+/g, ' ').trim().slice(0, REPORT_REASON_KEPT);
      dash.addReport(dev.serial, req.body.outcome, reason, at);
      req.log.info({ serial: dev.serial, outcome: req.body.outcome, reason }, 'agent report');
      return reply.status(204).send();
    },
  );
}
