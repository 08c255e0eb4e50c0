#!/usr/bin/env -S node --max-semi-space-size=1 --expose-gc
// A 1 MiB young generation keeps the agent's peak RSS near its live data; the
// agent runs from one bundled file (scripts/bundle.mjs) — both in BENCHMARKS.md.
// --expose-gc: a restore runs a minor collection every MiB received (agent/restore/young-gc.ts);
// `node bin/ds-backup.js` without it works, only without that early collection.
import '../dist/ds-backup.mjs';
