/**
 * power — is the laptop on battery, and how full is it?
 *
 * Reads Linux's /sys/class/power_supply/<name>/ (under `root`, so tests can
 * fake it with --sysfs-root): `type` Battery has `capacity` (percent) and
 * `status` (Charging / Discharging / Full …); any other type (Mains, USB,
 * UPS — the XO's olpc-ac) has `online` 0/1. The laptop is on battery when a
 * battery exists and no external supply is online (with no external supply
 * listed at all, a battery reporting Discharging says so). A machine with no
 * power_supply folder (a desktop, a VM) is on mains.
 *
 * powerVerdict() is the pure rule of `ds-backup run`: skip when on battery
 * and the fullest battery is below `minBattery` percent.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { unlessMissing } from '../../platform/fs-errors.js';

export interface PowerInfo {
  onBattery: boolean;
  /** Percent of the fullest battery, null when no battery says. */
  capacity: number | null;
  batteries: Array<{ name: string; capacity: number | null; status: string }>;
  external: Array<{ name: string; type: string; online: boolean }>;
}

function read(dir: string, key: string): string | null {
  try {
    return readFileSync(join(dir, key), 'utf8').trim();
  } catch {
    return null; // an attribute this driver lacks or fails to read (ENODEV/EIO on some batteries): unknown
  }
}

export function readPower(sysfsRoot = '/'): PowerInfo {
  const base = join(sysfsRoot, 'sys', 'class', 'power_supply');
  let names: string[] = [];
  try {
    names = readdirSync(base).sort();
  } catch (e) {
    unlessMissing(e); // no power_supply class: mains
  }
  const info: PowerInfo = { onBattery: false, capacity: null, batteries: [], external: [] };
  for (const name of names) {
    const dir = join(base, name);
    const type = read(dir, 'type') ?? '';
    if (type === 'Battery') {
      if (read(dir, 'present') === '0') continue;
      const cap = Number(read(dir, 'capacity'));
      info.batteries.push({
        name,
        capacity: read(dir, 'capacity') !== null && Number.isFinite(cap) ? cap : null,
        status: read(dir, 'status') ?? 'Unknown',
      });
    } else if (type) {
      info.external.push({ name, type, online: read(dir, 'online') === '1' });
    }
  }
  const caps = info.batteries.map((b) => b.capacity).filter((c): c is number => c !== null);
  info.capacity = caps.length ? Math.max(...caps) : null;
  const externalOnline = info.external.some((e) => e.online);
  info.onBattery =
    info.batteries.length > 0 &&
    !externalOnline &&
    (info.external.length > 0 || info.batteries.some((b) => b.status === 'Discharging'));
  return info;
}

export type PowerVerdict = { go: true; reason: string } | { go: false; reason: string };

export function powerVerdict(p: PowerInfo, minBattery: number): PowerVerdict {
  if (!p.onBattery) return { go: true, reason: p.batteries.length ? 'on mains power' : 'no battery (mains power)' };
  if (p.capacity === null) return { go: true, reason: 'on battery, charge unknown' };
  if (p.capacity < minBattery) return { go: false, reason: `on battery at ${p.capacity} % (below ${minBattery} %)` };
  return { go: true, reason: `on battery at ${p.capacity} %` };
}
