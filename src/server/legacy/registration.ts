/**
 * registration — Sugar's XML-RPC `register(sn, nick, uuid, pubkey)`.
 *
 * Sugar sends the laptop's SSH public key either as an OpenSSH line
 * (`ssh-dss AAAA… comment`) or, since 0.84, as the bare base64 blob; the
 * key type is read from the blob itself, so both give the same normalized
 * `<type> <base64>` kept in device.json (`pubkey`). Legacy devices get no
 * native token: they authenticate by that key (ds-backup-server legacy
 * setup turns it into a confined authorized_keys entry).
 *
 * Re-registration of a known serial (Sugar re-registers after a reinstall,
 * which makes a new key; the 2008 server always accepted it) is decided by
 * the pure function reRegistration():
 *   - same key                                   → accept (nickname/uuid updated)
 *   - no key yet (created by import-legacy, or a
 *     native laptop that never sent one) and no
 *     native token                               → accept, the key is claimed
 *   - different key, device never registered
 *     natively (no token)                        → accept (2008 behaviour: a
 *     reinstalled XO), logged as a key change; old snapshots stay untouched,
 *     the new key can only add snapshots
 *   - different key (or first key) on a device with a native token
 *                                                → refuse: a native laptop
 *     cannot be taken over by a legacy call from the network
 *   - disabled device                            → refuse
 * A refusal is a normal struct answer with success "ERR" and the reason in
 * `error` (Sugar shows it), not a fault.
 */
import { AppError } from '../../platform/errors.js';
import { canonicalSerial } from '../../protocol/names.js';
import type { DeviceRecord, Registry } from '../accounts/registry.js';

const KEY_TYPES =
  /^(ssh-dss|ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

/** `<type> <base64>` from an OpenSSH line or a bare blob; throws bad_request. */
export function normalizePubkey(input: string): string {
  const parts = input.trim().split(/\s+/);
  const b64 = parts.length >= 2 && KEY_TYPES.test(parts[0]) ? parts[1] : parts[0];
  if (!b64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length > 16384)
    throw new AppError('bad_request', 'public key is not an SSH public key');
  const blob = Buffer.from(b64, 'base64');
  if (blob.length < 8) throw new AppError('bad_request', 'public key too short');
  const n = blob.readUInt32BE(0);
  const type = n > 0 && n < 64 && blob.length >= 4 + n ? blob.subarray(4, 4 + n).toString('latin1') : '';
  if (!KEY_TYPES.test(type)) throw new AppError('bad_request', 'public key has an unknown key type');
  if (parts.length >= 2 && KEY_TYPES.test(parts[0]) && parts[0] !== type)
    throw new AppError('bad_request', 'public key type does not match its blob');
  return `${type} ${blob.toString('base64')}`;
}

export type ReRegistration = { accept: true; reason: string; keyChange: boolean } | { accept: false; reason: string };

/** Pure decision for a legacy registration of an already-known serial. */
export function reRegistration(
  prev: Pick<DeviceRecord, 'pubkey' | 'tokenHash' | 'disabled'>,
  pubkey: string,
): ReRegistration {
  if (prev.disabled) return { accept: false, reason: 'this laptop is disabled on the school server' };
  if (prev.pubkey === pubkey) return { accept: true, reason: 'same key', keyChange: false };
  if (prev.tokenHash) {
    return {
      accept: false,
      reason: 'this serial is registered with the new ds-backup client; ask the administrator to re-register it',
    };
  }
  if (!prev.pubkey) return { accept: true, reason: 'key claimed by the first legacy registration', keyChange: false };
  return { accept: true, reason: 'reinstalled laptop: new key replaces the old one', keyChange: true };
}

export interface LegacyRegistration {
  serial: string;
  nickname: string;
  uuid: string;
  pubkey: string;
}

export type LegacyRegisterResult =
  { ok: true; created: boolean; keyChange: boolean; reason: string } | { ok: false; reason: string };

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return true;
  return false;
}

/** Validates the four strings of the XML-RPC call; throws bad_request. */
export function checkRegistration(params: string[]): LegacyRegistration {
  if (params.length !== 4)
    throw new AppError('bad_request', `register takes 4 params (sn, nick, uuid, pubkey), got ${params.length}`);
  const [given, nickname, uuid, key] = params;
  const serial = canonicalSerial(given);
  if (!serial)
    throw new AppError(
      'bad_request',
      `serial ${JSON.stringify(String(given).slice(0, 40))} is not a laptop serial number`,
    );
  if (nickname.length > 200) throw new AppError('bad_request', 'nickname too long');
  if (uuid.length > 200 || hasControl(uuid)) throw new AppError('bad_request', 'bad uuid');
  return {
    serial,
    nickname: [...nickname]
      .map((ch) => (hasControl(ch) ? ' ' : ch))
      .join('')
      .trim(),
    uuid,
    pubkey: normalizePubkey(key),
  };
}

export function registerLegacy(registry: Registry, r: LegacyRegistration, now = Date.now()): LegacyRegisterResult {
  const existing = registry.bySerial(r.serial);
  const prev = existing ? registry.readRecord(r.serial) : null;
  if (existing && prev) {
    const d = reRegistration(prev, r.pubkey);
    if (!d.accept) return { ok: false, reason: d.reason };
    const rec: DeviceRecord = {
      ...prev,
      nickname: r.nickname || prev.nickname,
      uuid: r.uuid || prev.uuid || null,
      pubkey: r.pubkey,
    };
    registry.writeRecord(rec);
    registry.index(rec);
    return { ok: true, created: false, keyChange: d.keyChange, reason: d.reason };
  }
  const rec: DeviceRecord = {
    serial: r.serial,
    nickname: r.nickname,
    account: prev?.account ?? r.serial,
    tokenHash: null,
    createdAt: prev?.createdAt ?? now,
    disabled: false,
    pubkey: r.pubkey,
    uuid: r.uuid || null,
  };
  registry.writeRecord(rec);
  registry.index(rec);
  return { ok: true, created: true, keyChange: false, reason: 'new laptop' };
}
