/**
 * bundle — packs the laptop agent into one file, dist/ds-backup.mjs (run by
 * bin/ds-backup.js). Loading the agent's ~40 modules and its dependencies
 * one by one cost every run ~45 ms and ~12 MB before any work (BENCHMARKS.md);
 * one file costs neither. The server keeps the plain tsc output (it starts
 * once, and better-sqlite3 is a native module).
 *
 * The bundle's first line is `// ds-backup agent <version>`: the school
 * server reads it to tell laptops which agent it hands out (src/server/http/
 * agent-dist/), and the version is compiled in as __DSB_VERSION__
 * (src/agent/version.ts). `--version V --out FILE` makes a bundle of another
 * version label elsewhere (the self-upgrade tests make an "older" agent so).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const { values: args } = parseArgs({
  options: { version: { type: 'string' }, out: { type: 'string', default: 'dist/ds-backup.mjs' } },
});
const version = args.version ?? JSON.parse(readFileSync('package.json', 'utf8')).version;
if (!/^[0-9A-Za-z.+-]{1,40}$/.test(version)) throw new Error(`bad agent version ${JSON.stringify(version)}`);

await build({
  entryPoints: ['dist/agent/cli/cli.js'],
  outfile: args.out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  define: { __DSB_VERSION__: JSON.stringify(version) },
  // CommonJS dependencies (commander, cli-progress, yazl) call require() for Node's built-ins.
  banner: {
    js: `// ds-backup agent ${version}\nimport { createRequire as __dsbRequire } from 'node:module'; const require = __dsbRequire(import.meta.url);`,
  },
});
