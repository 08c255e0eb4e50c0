/**
 * completion — the completion-flag watcher of `serve`.
 *
 * An old client ends its run by rsyncing an empty file named after its
 * serial into the completion folder. The watcher notices it (fs.watch, plus
 * a periodic scan in case an event is lost, plus one scan at start for flags
 * that arrived while the server was down) and checks it with the pure
 * function judgeFlag(): a regular file (not a link), name = a registered,
 * enabled serial that has a Unix account (legacy setup's accounts.json),
 * owned by that account's uid. A valid flag is removed first (as the 2008
 * server did: a flag is a request, not a state), then the laptop's
 * `datastore-current` (and `documents`, `power-logs`) becomes snapshots
 * through folder-ingest, and the laptop's legacy lease is released.
 * Invalid flags are logged and removed too (else every scan would log them
 * again); dot-files are rsync's in-flight temp names and are left alone
 * for an hour. Flags are processed one at a time.
 */
import { existsSync, lstatSync, readdirSync, unlinkSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { canonicalSerial } from '../../protocol/names.js';
import type { ServerContext } from '../http/context.js';
import { ingestFolders, legacySources } from './folder-ingest.js';
import { releaseLegacyLease } from './routes.js';
import { readAccounts, type LegacyAccount } from './accounts.js';
import { unlessMissing } from '../../platform/fs-errors.js';

export type FlagVerdict =
  { ok: true; serial: string; account: LegacyAccount } | { ok: false; reason: string; keep?: boolean };

const TEMP_GRACE_MS = 3600_000;

/** Pure check of one entry of the completion folder. */
export function judgeFlag(
  name: string,
  st: Stats | null,
  accounts: Record<string, LegacyAccount>,
  known: (sn: string) => boolean,
  now: number,
): FlagVerdict {
  if (!st) return { ok: false, reason: 'vanished', keep: true };
  if (name.startsWith('.'))
    return now - st.mtimeMs < TEMP_GRACE_MS
      ? { ok: false, reason: 'temp file', keep: true }
      : { ok: false, reason: 'stale temp file' };
  if (!st.isFile()) return { ok: false, reason: 'not a regular file' };
  const sn = canonicalSerial(name);
  if (!sn) return { ok: false, reason: 'name is not a serial number' };
  const account = accounts[sn];
  if (!account || !known(sn))
    return { ok: false, reason: 'no registered laptop with a legacy account has this serial' };
  if (st.uid !== account.uid)
    return { ok: false, reason: `owned by uid ${st.uid}, not by ${account.user} (${account.uid})` };
  return { ok: true, serial: sn, account };
}

export class CompletionWatcher {
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  /** Serials ingested, in order (tests and logs). */
  readonly processed: Array<{ serial: string; snapshots: string[]; error?: string }> = [];

  constructor(
    private readonly ctx: ServerContext,
    readonly dir: string,
    private readonly log: FastifyBaseLogger,
    private readonly intervalMs = 30_000,
  ) {}

  start(): this {
    if (!existsSync(this.dir))
      this.log.warn(
        { dir: this.dir },
        'legacy completion folder missing; run ds-backup-server legacy setup (checked again every scan)',
      );
    this.timer = setInterval(() => this.kick(), this.intervalMs);
    this.timer.unref();
    this.kick();
    return this;
  }

  /** fs.watch once the folder exists (it may be made by setup after serve started). */
  private ensureWatch(): void {
    if (this.watcher || this.stopped || !existsSync(this.dir)) return;
    try {
      this.watcher = watch(this.dir, () => this.kick());
      this.watcher.on('error', (err) => {
        this.log.warn({ err }, 'completion folder watch failed; periodic scan continues');
        this.watcher?.close();
        this.watcher = null;
      });
    } catch (err) {
      this.log.warn({ err }, 'cannot watch the completion folder; periodic scan only');
    }
  }

  /** Schedules a scan; scans never overlap. Resolves when the folder is drained. */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.scan();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async scan(): Promise<void> {
    this.ensureWatch();
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn({ err, dir: this.dir }, 'cannot read the completion folder');
      return;
    }
    if (!names.length) return;
    const accounts = readAccounts(this.ctx.store.root);
    const registry = this.ctx.store.registry;
    for (const name of names.sort()) {
      if (this.stopped) return;
      const path = join(this.dir, name);
      let st: Stats | null = null;
      try {
        st = lstatSync(path);
      } catch (e) {
        unlessMissing(e); // gone
      }
      const v = judgeFlag(
        name,
        st,
        accounts,
        (sn) => !!registry.bySerial(sn) && !registry.bySerial(sn)!.disabled,
        Date.now(),
      );
      if (!v.ok) {
        if (v.keep) continue;
        this.log.warn({ flag: name, reason: v.reason }, 'invalid completion flag removed');
        this.remove(path);
        continue;
      }
      this.remove(path);
      await this.ingest(v.serial);
    }
  }

  private remove(path: string): void {
    try {
      unlinkSync(path);
    } catch (e) {
      unlessMissing(e);
    }
  }

  private async ingest(serial: string): Promise<void> {
    const { store } = this.ctx;
    const device = store.registry.bySerial(serial)!;
    try {
      const sources = legacySources(store.userDir(serial));
      const r = await ingestFolders(store, device, sources);
      const names = r.snapshots.map((s) => s.name);
      this.processed.push({ serial, snapshots: names });
      this.log.info(
        {
          serial,
          snapshots: names,
          files: r.files,
          hashed: r.hashedFiles,
          copied: r.copiedBlobs,
          copiedBytes: r.copiedBytes,
        },
        'legacy backup committed',
      );
    } catch (err) {
      this.processed.push({ serial, snapshots: [], error: (err as Error).message });
      this.log.error({ err, serial }, 'legacy backup failed');
    } finally {
      releaseLegacyLease(this.ctx, serial);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
