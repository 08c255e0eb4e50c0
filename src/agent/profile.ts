/**
 * profile — where the agent finds the Journal and keeps its own state.
 *
 * The profile folder is the Sugar profile (`~/.sugar/default`, or $SUGAR_HOME
 * and $SUGAR_PROFILE; `--profile DIR` for tests and simulations). Inside:
 *   datastore/                  the Journal (source "datastore")
 *   ds-backup/config.json       server URL, serial, token (mode 0600)
 *   ds-backup/cache-<src>.json  hash cache and last committed trees
 *   ds-backup/state.json        last run: result, reason, times
 *   lock/ds-backup.run          the run lock
 *   ds-backup-done              mtime = last successful backup (2008 name)
 * The Documents source is --documents, else the XDG Documents folder for the
 * default profile, else <profile>/Documents when it exists.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../platform/durable.js';
import { ExitError, EXIT } from '../platform/cli-util.js';
import { readJsonState, unlessMissing } from '../platform/fs-errors.js';

export interface AgentConfig {
  server: string;
  serial: string;
  nickname: string;
  token: string;
  /** Restore code for signing in to the web pages away from this laptop (GET /api/v1/restore-code). */
  restoreCode?: string;
}

export function defaultProfile(): string {
  const home = process.env.SUGAR_HOME ?? join(homedir(), '.sugar');
  return join(home, process.env.SUGAR_PROFILE ?? 'default');
}

export class Profile {
  readonly dir: string;
  readonly isDefault: boolean;

  constructor(dir?: string) {
    this.isDefault = !dir;
    this.dir = resolve(dir ?? defaultProfile());
  }

  get stateDir(): string {
    return join(this.dir, 'ds-backup');
  }
  get datastore(): string {
    return join(this.dir, 'datastore');
  }
  get doneFile(): string {
    return join(this.dir, 'ds-backup-done');
  }
  get lockFile(): string {
    return join(this.dir, 'lock', 'ds-backup.run');
  }
  cacheFile(source: string): string {
    return join(this.stateDir, `cache-${source}.json`);
  }

  ensureStateDir(): void {
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
  }

  /** Null when not registered; a damaged config.json stops (read as absent, registering again would overwrite it). */
  readConfig(): AgentConfig | null {
    const c = readJsonState(join(this.stateDir, 'config.json'), 'agent config') as
      (AgentConfig & { pin?: string }) | null;
    if (!c) return null;
    // `pin`: the restore code's field in configs written before the rename.
    const { pin, ...rest } = c;
    return rest.restoreCode === undefined && pin !== undefined ? { ...rest, restoreCode: pin } : rest;
  }

  requireConfig(): AgentConfig {
    const c = this.readConfig();
    if (!c)
      throw new ExitError(
        EXIT.notRegistered,
        `this laptop is not registered (no ${join(this.stateDir, 'config.json')}); run: ds-backup register --server URL`,
      );
    return c;
  }

  writeConfig(c: AgentConfig): void {
    this.ensureStateDir();
    writeFileAtomic(join(this.stateDir, 'config.json'), JSON.stringify(c, null, 2) + '\n', 0o600);
  }

  /** The Documents folder to back up, or null when there is none. */
  documentsDir(explicit?: string): string | null {
    if (explicit) return resolve(explicit);
    const candidate = this.isDefault ? xdgDocuments() : join(this.dir, 'Documents');
    return candidate && existsSync(candidate) ? candidate : null;
  }
}

/** $XDG_DOCUMENTS_DIR from ~/.config/user-dirs.dirs, else ~/Documents. */
export function xdgDocuments(): string {
  const home = homedir();
  try {
    const text = readFileSync(join(process.env.XDG_CONFIG_HOME ?? join(home, '.config'), 'user-dirs.dirs'), 'utf8');
    const m = /^XDG_DOCUMENTS_DIR="(.*)"$/m.exec(text);
    if (m) return m[1].replace(/^\$HOME/, home);
  } catch (e) {
    unlessMissing(e); // no user-dirs file
  }
  return join(home, 'Documents');
}

/** The laptop's serial: firmware first, then the profile's identifiers/sn. */
export function detectSerial(profile: Profile): string | null {
  for (const p of ['/proc/device-tree/mfg-data/SN', '/ofw/mfg-data/SN', join(profile.dir, 'identifiers', 'sn')]) {
    try {
      const sn = readFileSync(p, 'latin1').replace(/\0/g, '').trim();
      if (sn) return sn;
    } catch {
      /* absent or unreadable here (firmware nodes vary): try the next source */
    }
  }
  return null;
}
