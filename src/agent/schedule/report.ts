/**
 * report — tells the server why a scheduled run did not back up
 * (POST /api/v1/reports with the laptop's token), so the school's admin
 * sees "server busy: load" or "disk full" on the dashboard without visiting
 * the laptop. Best effort: at most REPORT_TIMEOUT_MS, and any error (no
 * network, old server without the call) is swallowed — a report must never
 * turn a skip into a failure.
 */
import { API } from '../../protocol/api.js';
import { REPORT_REASON_MAX } from '../../protocol/limits.js';
import { ApiClient } from '../client.js';
import type { Profile } from '../profile.js';

export const REPORT_TIMEOUT_MS = 10_000;

export async function reportToServer(
  profile: Profile,
  outcome: 'failed' | 'busy' | 'skipped',
  reason: string,
  at = Date.now(),
): Promise<boolean> {
  const cfg = profile.readConfig();
  if (!cfg) return false;
  const client = new ApiClient(cfg.server, cfg.token, 1);
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('report timed out')), REPORT_TIMEOUT_MS);
    });
    await Promise.race([
      client.call(API.report, {}, { json: { outcome, reason: reason.slice(0, REPORT_REASON_MAX), at } }),
      timeout,
    ]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    await client.close();
  }
}
