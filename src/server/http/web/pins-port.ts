/**
 * pins-port — what the web pages need from pins: "keep this document / this
 * backup date, whatever the cleanup decides".
 *
 *  - kind 'entry': ref is the Journal entry uid; pinning keeps its newest
 *    version (Pins.pinEntry), unpinning drops every pin of that uid the
 *    student made (auto pins of starred entries come back with the next
 *    daily cleanup while the entry is still starred);
 *  - kind 'snapshot': ref is `<serial>/<snapshot name>`.
 * CatalogPins adapts the cleanup's Pins (users/<SN>/pins.json + catalog) to
 * this interface; the pages never touch pins.json themselves.
 */
import { Pins, type Pin } from '../../retention/pins.js';
import type { Store } from '../../store/store.js';

export type PinKind = 'entry' | 'snapshot';

export interface PinsPort {
  pin(accountId: number, kind: PinKind, ref: string): Promise<void>;
  unpin(accountId: number, kind: PinKind, ref: string): void;
  isPinned(accountId: number, kind: PinKind, ref: string): boolean;
  /** Every pinned ref of one kind for the account (one query per page). */
  pinned(accountId: number, kind: PinKind): Set<string>;
}

function refOf(p: Pin): string {
  return p.kind === 'entry' ? p.uid! : `${p.serial}/${p.snapshot}`;
}

export class CatalogPins implements PinsPort {
  private readonly pins: Pins;

  constructor(store: Store) {
    this.pins = new Pins(store);
  }

  async pin(accountId: number, kind: PinKind, ref: string): Promise<void> {
    if (kind === 'entry') await this.pins.pinEntry(accountId, ref, undefined);
    else {
      const slash = ref.indexOf('/');
      this.pins.pinSnapshot(accountId, ref.slice(0, slash), ref.slice(slash + 1));
    }
  }

  unpin(accountId: number, kind: PinKind, ref: string): void {
    for (const p of this.pins.list(accountId))
      if (p.kind === kind && refOf(p) === ref) this.pins.remove(accountId, p.id);
  }

  isPinned(accountId: number, kind: PinKind, ref: string): boolean {
    return this.pinned(accountId, kind).has(ref);
  }

  pinned(accountId: number, kind: PinKind): Set<string> {
    return new Set(
      this.pins
        .list(accountId)
        .filter((p) => p.kind === kind)
        .map(refOf),
    );
  }
}
