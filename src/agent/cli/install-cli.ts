/**
 * install-cli — what the school server's install script needs from the agent:
 * `ds-backup uninstall [--forget]`, and for `register` the enrollment key
 * (--enroll-key, else $DSB_ENROLL_KEY; sent as the X-Enrollment-Key header,
 * which the server checks when its config sets `enrollmentKey`), keeping a
 * registration that still works (--if-needed: a second install run changes
 * nothing) and the restore-code line it prints.
 */
import type { Command } from 'commander';
import { action, EXIT, ExitError, printJson } from '../../platform/cli-util.js';
import { AppError } from '../../platform/errors.js';
import { ApiClient } from '../client.js';
import { uninstall } from '../install/uninstall.js';
import { Profile, type AgentConfig } from '../profile.js';
import { fetchRestoreCode } from '../restore/web-link.js';

const say = (s: string): void => void process.stderr.write(`${s}\n`);

/** The X-Enrollment-Key header for a registration, from the option or $DSB_ENROLL_KEY. */
export function enrollHeaders(option: string | undefined): Record<string, string> {
  const key = option ?? process.env.DSB_ENROLL_KEY ?? '';
  if (!key) return {};
  if (!/^[\x21-\x7e]{1,200}$/.test(key))
    throw new ExitError(EXIT.usage, 'the enrollment key is 1–200 printable characters without spaces');
  return { 'x-enrollment-key': key };
}

/** The line that tells the owner their restore code and where to see it again. */
export function restoreCodeLine(server: string, code: string | undefined): string {
  return code
    ? `restore code: ${code} — with the serial number it opens ${server.replace(/\/$/, '')}/ui/ from any computer; see it again with: ds-backup status`
    : 'restore code: not available from this server (see: ds-backup status)';
}

/**
 * --if-needed: this profile is already registered with `server` as `serial`
 * and its token still works → the config (restore code refreshed if the
 * admin reset it), else null (register as usual).
 */
export async function keptRegistration(profile: Profile, server: string, serial: string): Promise<AgentConfig | null> {
  const prev = profile.readConfig();
  if (!prev || prev.serial !== serial || prev.server !== server.replace(/\/$/, '')) return null;
  const client = new ApiClient(server, prev.token);
  try {
    const restoreCode = await fetchRestoreCode(client);
    if (restoreCode !== prev.restoreCode) profile.writeConfig({ ...prev, restoreCode });
    return { ...prev, restoreCode };
  } catch (e) {
    if (e instanceof AppError && (e.code === 'unauthorized' || e.code === 'not_found')) return null;
    throw e;
  } finally {
    await client.close();
  }
}

export function addInstallCommands(program: Command): void {
  program
    .command('uninstall')
    .description(
      "remove the timer and the agent the school server's install script put here; the server keeps the backups",
    )
    .option('--forget', "also delete this laptop's token, caches and run state (re-joining then needs the admin)")
    .option('--profile <dir>', 'Sugar profile folder (default ~/.sugar/default)')
    .option('--json', 'print what was done as JSON')
    .addHelpText(
      'after',
      `
Removes the systemd user timer or the crontab line, ~/.local/bin/ds-backup and
~/.local/share/ds-backup/. The Journal is never touched. With --forget, also
<profile>/ds-backup/ (the token): the server keeps this laptop's backups, but
this serial can register again only with a token from the admin
(ds-backup-server device token SN).`,
    )
    .action(
      action((o: { forget?: boolean; profile?: string; json?: boolean }) => {
        const r = uninstall(new Profile(o.profile), { forget: Boolean(o.forget) });
        if (o.json) return printJson(r);
        for (const l of r.done) say(l);
        for (const l of r.left) say(`left: ${l}`);
        say(
          r.agentRemoved
            ? "ds-backup is uninstalled; the school server keeps this laptop's backups"
            : 'no timer runs ds-backup any more; the agent itself stays (see above)',
        );
      }),
    );
}
