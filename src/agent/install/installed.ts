/**
 * installed — where an agent installed by the school server's install script
 * lives, and whether the running agent is one (only such an agent upgrades
 * or uninstalls itself; a developer's checkout or an npm install never does).
 *
 * Layout (written by the script, src/server/http/agent-dist/install-script.ts):
 *   ~/.local/share/ds-backup/            ($XDG_DATA_HOME/ds-backup)
 *     install.json                       {"server", "launcher", "node"} — the marker
 *     agent-<sha256[:16]>.mjs            bundles, named by their content
 *     current.mjs -> agent-….mjs         the one the launcher runs (switched atomically)
 *   ~/.local/bin/ds-backup               the launcher: exec node current.mjs "$@"
 * The running agent is installed when the folder of its own bundle (Node
 * resolves current.mjs to the real file) holds install.json.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Installation {
  dir: string;
  /** The bundle this process runs. */
  bundle: string;
  /** The launcher script on PATH (~/.local/bin/ds-backup). */
  launcher: string;
  /** The server the script came from. */
  server: string;
}

export const CURRENT = 'current.mjs';
export const MARKER = 'install.json';
/** A line of the launcher, so uninstall removes only a launcher the script wrote. */
export const LAUNCHER_TAG = '# ds-backup launcher, written by the school server install script';

/** The bundle file name for content with this SHA-256. */
export function bundleName(sha256: string): string {
  return `agent-${sha256.slice(0, 16)}.mjs`;
}

/** The installation this agent runs from, or null (not installed by the script). */
export function installation(bundle = fileURLToPath(import.meta.url)): Installation | null {
  const dir = dirname(bundle);
  if (!/^agent-[0-9a-f]{16}\.mjs$/.test(basename(bundle))) return null;
  try {
    const m = JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as { launcher?: unknown; server?: unknown };
    if (typeof m.launcher !== 'string' || typeof m.server !== 'string') return null;
    return { dir, bundle, launcher: m.launcher, server: m.server };
  } catch {
    return null;
  }
}
