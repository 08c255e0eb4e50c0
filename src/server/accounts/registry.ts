/**
 * registry — devices, accounts and their secret tokens.
 *
 * A device is a laptop known by its serial; an account owns backups and is
 * named by the serial of its first device (a replaced laptop joins the old
 * account). Each device's record lives on disk as `users/<SN>/device.json`
 * (the truth, written atomically) and in the catalog (the index).
 *
 * Tokens are `<serial>.<secret>`; the server keeps only hashToken(secret)
 * and compares in constant time (tokens.ts). A registered serial is never taken over: a
 * second registration must present that device's current token.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../../platform/errors.js';
import { writeFileAtomic } from '../../platform/durable.js';
import type { Catalog, DeviceRow } from '../catalog/catalog.js';
import { deviceBySerial, upsertDevice, type DeviceRecord } from '../catalog/devices.js';
import { hashToken, newSecret, safeEqual } from './tokens.js';
import { canonicalSerial } from '../../protocol/names.js';
import { readJsonState } from '../../platform/fs-errors.js';

/** What users/<SN>/device.json holds (defined beside the catalog rows it indexes into). */
export type { DeviceRecord };

export function newToken(serial: string): { token: string; hash: string } {
  const secret = newSecret();
  return { token: `${serial}.${secret}`, hash: hashToken(secret) };
}

export class Registry {
  constructor(
    private readonly db: Catalog,
    private readonly usersDir: string,
  ) {}

  /** The laptop of a serial given in any case (protocol/names.ts canonicalSerial), or undefined. */
  bySerial(serial: string): DeviceRow | undefined {
    const sn = canonicalSerial(serial);
    return sn ? deviceBySerial(this.db, sn) : undefined;
  }

  /** The device a bearer token belongs to, or undefined. */
  authenticate(token: string): DeviceRow | undefined {
    const dot = token.indexOf('.');
    if (dot <= 0) return undefined;
    const dev = this.bySerial(token.slice(0, dot));
    if (!dev || !dev.token_hash) return undefined;
    return safeEqual(hashToken(token.slice(dot + 1)), dev.token_hash) ? dev : undefined;
  }

  deviceDir(serial: string): string {
    return join(this.usersDir, serial);
  }

  writeRecord(rec: DeviceRecord): void {
    const dir = this.deviceDir(rec.serial);
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(join(dir, 'device.json'), JSON.stringify(rec, null, 2) + '\n', 0o600);
  }

  readRecord(serial: string): DeviceRecord | null {
    // Absent: null. Damaged: state_damaged — read as absent it would be overwritten by the next registration.
    return readJsonState(join(this.deviceDir(serial), 'device.json'), 'device record') as DeviceRecord | null;
  }

  /** Puts a device record into the catalog (creating its account row). */
  index(rec: DeviceRecord): DeviceRow {
    return upsertDevice(this.db, rec);
  }

  /**
   * Registers a device, or re-registers it when `presented` is its valid token.
   * Returns the new token (shown once).
   */
  register(input: { serial: string; nickname: string; presented?: string; account?: string }): {
    token: string;
    device: DeviceRow;
    created: boolean;
  } {
    const existing = this.bySerial(input.serial);
    if (existing) {
      const owner = input.presented ? this.authenticate(input.presented) : undefined;
      if (!owner || owner.serial !== input.serial) {
        throw new AppError(
          'already_registered',
          `serial ${input.serial} is already registered; re-register with this laptop's token or ask the administrator`,
        );
      }
    }
    const prev = existing ? this.readRecord(input.serial) : null;
    const { token, hash } = newToken(input.serial);
    const rec: DeviceRecord = {
      serial: input.serial,
      nickname: input.nickname || prev?.nickname || '',
      account: prev?.account ?? input.account ?? input.serial,
      tokenHash: hash,
      createdAt: prev?.createdAt ?? Date.now(),
      disabled: prev?.disabled ?? false,
      pubkey: prev?.pubkey ?? null,
      uuid: prev?.uuid ?? null,
    };
    this.writeRecord(rec);
    return { token, device: this.index(rec), created: !existing };
  }

  /** The account key of a registered laptop (a replacement joins it), or null. */
  accountOf(serial: string): string | null {
    return this.readRecord(serial)?.account ?? null;
  }

  /** Changes a device's disabled flag or account, on disk (the truth) and in the catalog. */
  update(serial: string, change: { disabled?: boolean; account?: string }): DeviceRow {
    const rec = this.readRecord(serial);
    if (!rec) throw new AppError('not_found', `laptop ${serial} is not registered`);
    const next: DeviceRecord = { ...rec, ...change };
    this.writeRecord(next);
    return this.index(next);
  }
}
