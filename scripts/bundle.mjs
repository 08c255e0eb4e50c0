/**
 * bundle — packs the laptop agent into one file, dist/ds-backup.mjs (run by
 * bin/ds-backup.js). Loading the agent's ~40 modules and its dependencies
 * one by one cost every run ~45 ms and ~12 MB before any work (BENCHMARKS.md);
 * one file costs neither. The server keeps the plain tsc output (it starts
 * once, and better-sqlite3 is a native module).
 */
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/agent/cli/cli.js'],
  outfile: 'dist/ds-backup.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // CommonJS dependencies (commander, cli-progress, yazl) call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __dsbRequire } from 'node:module'; const require = __dsbRequire(import.meta.url);",
  },
});
