#!/usr/bin/env -S node --max-semi-space-size=1
// A 1 MiB young generation keeps the server's peak RSS near its live data
// (a first backup's upload and commit otherwise leave ~30 MB of young-generation
// pages resident for good; BENCHMARKS.md). Run it as installed (through this
// line); `node bin/ds-backup-server.js` skips the flag.
import '../dist/server/cli/cli.js';
