/**
 * command-policy — what an old laptop's SSH key may run (pure function).
 *
 * The 2008–2013 client runs exactly two kinds of rsync over SSH; the server
 * side of each arrives as SSH_ORIGINAL_COMMAND, e.g.
 *   rsync --server -ltrze.iLsfxCIvu --timeout=160 --delete --partial . datastore-current
 *   rsync --server -e.LsfxCIvu --temp-dir /tmp . /var/lib/ds-backup/completion/SHF7000500
 * judgeCommand() accepts only those shapes: `rsync --server` as a receiver
 * (never --sender: nothing can be read back), short options among `lrtzv`
 * plus rsync's `e.<capabilities>` block, the long options the old client
 * sends (--timeout=N, --delete, --partial; --temp-dir /tmp only for the
 * flag), then `.` and one destination: `datastore-current`, `documents` or
 * `power-logs` (relative to the account's home), or exactly
 * `<completion dir>/<own serial>`. Everything else — a shell, another
 * program, another path, `..`, another serial's flag — is refused with a
 * reason. The accepted command is rebuilt from the parsed parts with an
 * absolute destination; nothing from the client reaches a shell.
 */
import { join } from 'node:path';

export const HOME_FOLDERS = ['datastore-current', 'documents', 'power-logs'] as const;

/** File in the account's home the legacy shell touches when an rsync session starts (routes.ts reads it). */
export const SESSION_MARK = '.ds-backup-session';

export type CommandVerdict =
  { ok: true; kind: 'home' | 'flag'; argv: string[]; dest: string } | { ok: false; reason: string };

const SHORT_RE = /^-([lrtzv]*)(e\.[A-Za-z]*)?$/;
const TOKEN_RE = /^[A-Za-z0-9._=/:-]+$/;

export interface CommandContext {
  serial: string;
  home: string;
  completionDir: string;
}

export function judgeCommand(command: string, c: CommandContext): CommandVerdict {
  const no = (reason: string): CommandVerdict => ({ ok: false, reason });
  if (!command.trim()) return no('interactive login is not allowed; this account only accepts the backup rsync');
  const t = command.trim().split(/ +/);
  if (t.some((x) => !TOKEN_RE.test(x))) return no('command contains characters rsync never sends');
  if (t[0] !== 'rsync' || t[1] !== '--server') return no(`only rsync is allowed, not ${JSON.stringify(t[0])}`);
  const opts: string[] = [];
  let tempDir = false;
  let del = false;
  let i = 2;
  for (; i < t.length && t[i] !== '.'; i++) {
    const x = t[i];
    if (SHORT_RE.test(x) && x !== '-') opts.push(x);
    else if (/^--timeout=\d{1,6}$/.test(x) || x === '--partial') opts.push(x);
    else if (x === '--delete') {
      del = true;
      opts.push(x);
    } else if ((x === '--temp-dir' || x === '-T') && t[i + 1] === '/tmp') {
      tempDir = true;
      opts.push('--temp-dir=/tmp');
      i++;
    } else if (x === '--temp-dir=/tmp') {
      tempDir = true;
      opts.push(x);
    } else return no(`rsync option ${x} is not allowed`);
  }
  if (t[i] !== '.' || t.length !== i + 2) return no('expected ". <destination>" after the options');
  const raw = t[i + 1];
  const name = raw.replace(/\/+$/, '');
  if ((HOME_FOLDERS as readonly string[]).includes(name)) {
    if (tempDir) return no('--temp-dir is only allowed for the completion flag');
    const dest = join(c.home, name);
    return { ok: true, kind: 'home', dest, argv: ['--server', ...opts, '.', dest] };
  }
  if (raw === join(c.completionDir, c.serial)) {
    if (del) return no('--delete is not allowed for the completion flag');
    return { ok: true, kind: 'flag', dest: raw, argv: ['--server', ...opts, '.', raw] };
  }
  return no(
    `destination ${JSON.stringify(raw)} is not allowed (only ${HOME_FOLDERS.join(', ')} and ${join(c.completionDir, c.serial)})`,
  );
}
