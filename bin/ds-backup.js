#!/usr/bin/env -S node --max-semi-space-size=1
// A 1 MiB young generation keeps the agent's peak RSS near its live data; the
// agent runs from one bundled file (scripts/bundle.mjs) — both in BENCHMARKS.md.
import '../dist/ds-backup.mjs';
