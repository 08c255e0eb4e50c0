/**
 * progress — a byte progress bar on stderr when it is a terminal (and not
 * --json); silent otherwise, so logs and scripts stay clean.
 */
import { createRequire } from 'node:module';
import type cliProgressType from 'cli-progress';

// Loaded only when a bar is shown (a terminal): scripted and timer runs skip its load time.
const requireCjs = createRequire(import.meta.url);

export interface Progress {
  start(total: number): void;
  /** The total grew by n (work found while it is being done); starts the bar if needed. */
  grow(n: number): void;
  add(n: number): void;
  stop(): void;
}

const quiet: Progress = { start() {}, grow() {}, add() {}, stop() {} };

export function progressBar(label: string, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return quiet;
  const cliProgress = requireCjs('cli-progress') as typeof cliProgressType;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value_mb}/{total_mb} MB | {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let value = 0;
  let total = 0;
  let started = false;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return {
    start(t) {
      total = t;
      if (t > 0 && !started) {
        started = true;
        bar.start(t, value, { value_mb: mb(value), total_mb: mb(t) });
      }
    },
    grow(n) {
      if (!started) return this.start(total + n);
      total += n;
      bar.setTotal(total);
      bar.update(Math.min(value, total), { value_mb: mb(value), total_mb: mb(total) });
    },
    add(n) {
      value += n;
      if (started) bar.update(Math.min(value, total), { value_mb: mb(value), total_mb: mb(total) });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
