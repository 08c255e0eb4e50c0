/**
 * bundle — the agent this server hands out: the one-file build of the laptop
 * agent (dist/ds-backup.mjs, scripts/bundle.mjs; config `agentBundle` names
 * another file). Read whole (a few hundred KB) with its SHA-256 and its
 * version from the first line, `// ds-backup agent <version>`; read again
 * when the file's identity (inode, size, mtime) changes, so a rebuilt or
 * replaced bundle is served without a restart. The bytes served and the hash
 * published always come from the same read.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ServerConfig } from '../../config.js';
import type { AgentOffer } from '../../../protocol/api-types.js';

export interface AgentBundle {
  bytes: Buffer;
  sha256: string;
  /** null when the file has no version line (then laptops are not told to upgrade to it). */
  version: string | null;
  file: string;
}

export const BUNDLE_PATH = '/agent/ds-backup.mjs';
const VERSION_LINE = /^\/\/ ds-backup agent ([0-9A-Za-z.+-]{1,40})\r?\n/;

/** dist/ds-backup.mjs of the package this module belongs to (found upwards: runs from src/ or dist/). */
function packagedBundle(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    const file = join(dir, 'dist', 'ds-backup.mjs');
    if (existsSync(file) || dirname(dir) === dir) return file;
  }
}

export class AgentBundles {
  private cached: { key: string; bundle: AgentBundle } | null = null;
  private readonly packaged = packagedBundle();

  constructor(private readonly config: ServerConfig) {}

  file(): string {
    return this.config.agentBundle || this.packaged;
  }

  /** The bundle as it is now on disk, or null when there is none. */
  current(): AgentBundle | null {
    const file = this.file();
    let key: string;
    try {
      const st = statSync(file);
      key = `${file}:${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return null;
    }
    if (this.cached?.key === key) return this.cached.bundle;
    const bytes = readFileSync(file);
    const version = VERSION_LINE.exec(bytes.subarray(0, 100).toString('latin1'))?.[1] ?? null;
    const bundle = { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), version, file };
    this.cached = { key, bundle };
    return bundle;
  }

  /** {agent: offer} for the ping answer (read by agent/install/self-upgrade.ts), or {} when there is nothing to offer. */
  pingField(): { agent?: AgentOffer } {
    const b = this.current();
    return b?.version ? { agent: { version: b.version, sha256: b.sha256, path: BUNDLE_PATH } } : {};
  }
}
