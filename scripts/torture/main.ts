/**
 * npm run torture — the issue #16 torture suite against the built server
 * and agent (run `npm run build` first; `npm run torture` does).
 *
 *   npm run torture -- [--seed S] [--requests N] [--trials N] [--parts fuzz,crash,...] [--json]
 *
 * Seeded (a random seed is drawn and printed when none is given), bounded,
 * prints totals per part and exits 1 on any failure, 2 on a usage error.
 * Each failure prints the seed and the request or trial that reproduces it.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { PARTS, runParts, type PartName } from './parts.js';

const HELP = `npm run torture -- [options]

  --seed <s>          seed of every random choice (default: random, printed)
  --requests <n>      fuzzer requests (default 10000)
  --trials <n>        kill -9 trials (default 100); the ENOSPC and bit-flip parts use --trials/10 (at least 3)
  --parts <list>      comma-separated, of: ${Object.keys(PARTS).join(', ')} (default: all)
  --only-request <k>  fuzz: send only request k of the seed's stream (to reproduce a failure)
  --concurrency <n>   fuzz: requests in flight (default 6)
  --json              print the totals as one JSON document on stdout (progress goes to stderr)
  --help              this text

Exit codes: 0 no failure, 1 a failure, 2 usage.`;

function main(): Promise<number> | number {
  let v;
  try {
    v = parseArgs({
      options: {
        seed: { type: 'string' },
        requests: { type: 'string' },
        trials: { type: 'string' },
        parts: { type: 'string' },
        'only-request': { type: 'string' },
        concurrency: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${HELP}\n`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const int = (s: string | undefined, d: number, name: string) => {
    if (s === undefined) return d;
    if (!/^\d+$/.test(s)) throw new UsageError(`--${name} wants a whole number, not ${JSON.stringify(s)}`);
    return Number(s);
  };
  let parts: PartName[];
  try {
    parts = (v.parts?.split(',') ?? Object.keys(PARTS)).map((p) => {
      if (!(p in PARTS))
        throw new UsageError(`unknown part ${JSON.stringify(p)} (parts: ${Object.keys(PARTS).join(', ')})`);
      return p as PartName;
    });
    const trials = int(v.trials, 100, 'trials');
    const seed = v.seed ?? randomBytes(6).toString('hex');
    const json = !!v.json;
    const log = (l: string) => process.stderr.write(`${l}\n`);
    log(`torture: seed ${seed}`);
    return runParts(parts, {
      seed,
      requests: int(v.requests, 10_000, 'requests'),
      onlyRequest: v['only-request'] === undefined ? undefined : int(v['only-request'], 0, 'only-request'),
      concurrency: int(v.concurrency, 6, 'concurrency'),
      trials,
      log,
    }).then((results) => {
      const failures = results.reduce((n, r) => n + r.failures.length, 0);
      if (json) process.stdout.write(`${JSON.stringify({ seed, failures, parts: results }, null, 1)}\n`);
      else {
        for (const r of results) {
          process.stdout.write(
            `${r.part}: ${r.failures.length} failures, ${r.seconds} s  ${JSON.stringify(r.counts)}\n`,
          );
          for (const p of r.pending)
            process.stdout.write(`  pending ${p.cls} ×${p.count}: ${p.todo}\n    e.g. ${p.examples[0]}\n`);
          for (const f of r.failures)
            process.stdout.write(`  FAIL ${f.what}\n    reproduce: --seed ${seed} ${f.repro}\n`);
        }
        process.stdout.write(`torture: seed ${seed}, ${failures} failures\n`);
      }
      return failures ? 1 : 0;
    });
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

class UsageError extends Error {}

process.exitCode = await main();
