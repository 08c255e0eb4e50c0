/**
 * version — the agent's version: compiled into the bundle by scripts/bundle.mjs
 * (__DSB_VERSION__, the package version unless told otherwise), else read
 * from the package.json above this module (the unbundled tsc output, tsx).
 * The self-upgrade compares it with the version the school server serves.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

declare const __DSB_VERSION__: string | undefined;

function packageVersion(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ds-backup' && pkg.version) return pkg.version;
    } catch {
      /* not here */
    }
    if (dirname(dir) === dir) return '0.0.0';
  }
}

export const AGENT_VERSION: string = typeof __DSB_VERSION__ === 'string' ? __DSB_VERSION__ : packageVersion();

/** Compares dotted versions numerically part by part (1.10.0 > 1.9.2); a non-number part compares as text. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/);
  const pb = b.split(/[.+-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    const c = Number.isNaN(nx) || Number.isNaN(ny) ? x.localeCompare(y) : nx - ny;
    if (c) return Math.sign(c);
  }
  return 0;
}
