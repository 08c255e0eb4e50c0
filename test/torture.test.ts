/**
 * The torture suite's short version (scripts/torture/, issue #16): every
 * part with small counts — the fuzzer over the route table, the auth
 * matrix, bit flips, ENOSPC on a tmpfs (as root) and kill -9 trials —
 * against the built server and agent. The seed is printed (TORTURE_SEED
 * sets it); `npm run torture -- --seed S --parts P` reproduces a failure
 * at full size. Classes other branches are fixing count as pending, not
 * failures (scripts/torture/tally.ts PENDING).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PARTS, type PartName, type RunOptions } from '../scripts/torture/parts.js';

const seed = process.env.TORTURE_SEED ?? randomBytes(6).toString('hex');
const short: Omit<RunOptions, 'log'> = {
  seed,
  requests: 200,
  concurrency: 4,
  trials: 2,
  fewTrials: 2,
  hugeBytes: 1 << 20,
};

for (const part of Object.keys(PARTS) as PartName[])
  test(`torture ${part} (seed ${seed})`, { timeout: 600_000 }, async (t) => {
    const r = await PARTS[part]({ ...short, log: (l) => t.diagnostic(l) });
    t.diagnostic(`${part}: ${JSON.stringify(r.counts)}`);
    for (const p of r.pending) t.diagnostic(`pending ${p.cls} ×${p.count}: ${p.todo}`);
    assert.deepEqual(
      r.failures.map((f) => `${f.what} — reproduce: npm run torture -- --seed ${seed} ${f.repro}`),
      [],
    );
  });
