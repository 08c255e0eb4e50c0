#!/usr/bin/env -S node --max-semi-space-size=1
// A 1 MiB young generation keeps the agent's peak RSS near its live data (BENCHMARKS.md).
import '../dist/agent/cli.js';
