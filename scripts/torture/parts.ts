/**
 * parts — the torture suite's parts and what each is given; shared by the
 * command (main.ts) and the short version in npm test (test/torture.test.ts).
 */
import { runBitflip } from './bitflip.js';
import { runCrash } from './crash.js';
import { runEnospc } from './enospc.js';
import { runFuzz } from './fuzz.js';
import { runMatrix } from './matrix.js';
import type { PartResult } from './tally.js';

export interface RunOptions {
  seed: string;
  requests: number;
  onlyRequest?: number;
  concurrency: number;
  trials: number;
  /** enospc and bitflip trials (default: trials / 10, at least 3). */
  fewTrials?: number;
  /** fuzz: largest body, bytes (default 8 MiB). */
  hugeBytes?: number;
  log: (line: string) => void;
}

const few = (o: RunOptions) => o.fewTrials ?? Math.max(3, Math.round(o.trials / 10));

export const PARTS = {
  fuzz: (o: RunOptions) =>
    runFuzz({
      seed: o.seed,
      requests: o.requests,
      onlyRequest: o.onlyRequest,
      concurrency: o.concurrency,
      hugeBytes: o.hugeBytes ?? 8 << 20,
      rssBoundMiB: 300,
      log: o.log,
    }),
  crash: (o: RunOptions) => runCrash({ seed: o.seed, trials: o.trials, log: o.log }),
  enospc: (o: RunOptions) => runEnospc({ seed: o.seed, trials: few(o), log: o.log }),
  bitflip: (o: RunOptions) => runBitflip({ seed: o.seed, trials: few(o), log: o.log }),
  matrix: (o: RunOptions) => runMatrix({ seed: o.seed, log: o.log }),
} satisfies Record<string, (o: RunOptions) => Promise<PartResult>>;

export type PartName = keyof typeof PARTS;

export async function runParts(names: PartName[], o: RunOptions): Promise<PartResult[]> {
  const out: PartResult[] = [];
  for (const n of names) {
    o.log(`torture: ${n}…`);
    const r = await PARTS[n](o);
    o.log(`torture: ${n}: ${r.failures.length} failures, ${r.seconds} s ${JSON.stringify(r.counts)}`);
    out.push(r);
  }
  return out;
}
