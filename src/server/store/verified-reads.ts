/**
 * verified-reads — every read of a pool blob or tree checks that the bytes
 * hash to the object's name (issue #16 §6), in this one place below every
 * reader: verifiedReads() wraps an object store so that get(), sync.read()
 * and sync.open() of `pool/…` and `trees/…` keys verify what they return.
 * Other keys (snapshot records) and every other method pass through.
 *
 *  - get() streams through a VerifyHash transform that hashes the whole
 *    object (a ranged get reads the whole object and passes on only the
 *    range) and HOLDS BACK the last bytes until the hash is known: the first
 *    HOLD bytes are only released once more follow, and whatever is held
 *    at the end is released only when the hash matches. So a reader never
 *    gets the complete bytes of a damaged object: an object of at most HOLD
 *    bytes fails before a byte leaves (an HTTP route can still answer an
 *    error status); a larger one fails with its tail missing (the route's
 *    response is cut: a broken download, never a complete wrong file).
 *  - sync.read() hashes the buffer before returning it.
 *  - sync.open() readers hash sequential reads and throw on the read that
 *    completes the object, before the caller has those bytes' buffer back.
 *
 * On damage the store's `onDamage` hears of it (log, flag for `verify`,
 * metrics: damage.ts) and the read fails with AppError `damaged`.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { AppError } from '../../platform/errors.js';
import { idOfKey, type ByteRange, type ObjectReader, type ObjectStore, type SyncObjectAccess } from './object-store.js';

/** Bytes a verified stream holds back before releasing any (the largest blob that fails before its first byte). */
export const HOLD = 1024 * 1024;

export type DamageKind = 'blob' | 'tree';

/** Told of every damaged object a read met (the read itself fails). */
export type DamageListener = (id: string, kind: DamageKind, problem: string) => void;

/** The kind and id of a content-addressed key (pool/ab/<id>, trees/ab/<id>), or null. */
export function addressed(key: string): { id: string; kind: DamageKind } | null {
  const kind = key.startsWith('pool/') ? 'blob' : key.startsWith('trees/') ? 'tree' : null;
  const id = kind ? idOfKey(key) : null;
  return kind && id ? { id, kind } : null;
}

export function damagedError(id: string, kind: DamageKind): AppError {
  return new AppError(
    'damaged',
    `the server's stored copy of ${kind} ${id.slice(0, 12)}… is damaged (the administrator's verify lists it)`,
    { details: { id, kind } },
  );
}

const mismatch = (hex: string) => `content hashes to ${hex.slice(0, 12)}…`;

/** Hashes an object's bytes as they pass, releasing only `range` of them, the last HOLD bytes after the check. */
export class VerifyHash extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private pos = 0;
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(
    private readonly id: string,
    private readonly kind: DamageKind,
    private readonly onDamage: DamageListener,
    private readonly range: { start: number; end: number } = { start: 0, end: Infinity },
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    const from = this.pos;
    this.pos += chunk.length;
    const a = Math.max(this.range.start, from) - from;
    const b = Math.min(this.range.end, this.pos) - from;
    if (b > a) {
      const part = a === 0 && b === chunk.length ? chunk : chunk.subarray(a, b);
      if (this.heldBytes >= HOLD) {
        // Enough held back: release all but the newest piece.
        for (const h of this.held) this.push(h);
        this.held = [];
        this.heldBytes = 0;
      }
      this.held.push(part);
      this.heldBytes += part.length;
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    const hex = this.hash.digest('hex');
    if (hex !== this.id) {
      this.onDamage(this.id, this.kind, mismatch(hex));
      cb(damagedError(this.id, this.kind));
      return;
    }
    for (const h of this.held) this.push(h);
    this.held = [];
    cb();
  }
}

/** A reader that checks the hash when sequential reads reach the object's end. */
function verifiedReader(
  inner: ObjectReader,
  size: number,
  id: string,
  kind: DamageKind,
  onDamage: DamageListener,
): ObjectReader {
  const hash = createHash('sha256');
  let next = 0;
  let sequential = true;
  const check = () => {
    const hex = hash.digest('hex');
    if (hex === id) return;
    onDamage(id, kind, mismatch(hex));
    throw damagedError(id, kind);
  };
  if (size === 0) check();
  return {
    read(buf, offset, length, position) {
      const n = inner.read(buf, offset, length, position);
      if (sequential && position === next && n > 0) {
        hash.update(buf.subarray(offset, offset + n));
        next += n;
        if (next === size) check();
      } else if (n > 0) sequential = false; // out of order: only a whole sequential read can be checked
      return n;
    },
    close: () => inner.close(),
  };
}

function verifiedSync(sync: SyncObjectAccess, onDamage: DamageListener): SyncObjectAccess {
  return {
    ...sync,
    read: (key) => {
      const bytes = sync.read(key);
      const o = addressed(key);
      if (o) {
        const hex = createHash('sha256').update(bytes).digest('hex');
        if (hex !== o.id) {
          onDamage(o.id, o.kind, mismatch(hex));
          throw damagedError(o.id, o.kind);
        }
      }
      return bytes;
    },
    open: (key) => {
      const o = addressed(key);
      if (!o) return sync.open(key);
      const size = sync.stat(key)?.size ?? 0;
      return verifiedReader(sync.open(key), size, o.id, o.kind, onDamage);
    },
  };
}

function verifiedGet(inner: ObjectStore, onDamage: DamageListener) {
  return (key: string, range?: ByteRange): Readable => {
    const o = addressed(key);
    if (!o) return inner.get(key, range);
    const src = inner.get(key); // the whole object: a range cannot be checked on its own
    const out = new VerifyHash(
      o.id,
      o.kind,
      onDamage,
      range ? { start: range.start, end: range.end ?? Infinity } : undefined,
    );
    src.on('error', (e) => out.destroy(e));
    out.on('close', () => src.destroy());
    return src.pipe(out);
  };
}

/** `inner` with every read of a pool blob or tree verified (see the file comment). */
export function verifiedReads(inner: ObjectStore, onDamage: DamageListener): ObjectStore {
  const get = verifiedGet(inner, onDamage);
  const sync = inner.sync ? verifiedSync(inner.sync, onDamage) : undefined;
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'get') return get;
      if (prop === 'sync') return sync;
      if (prop === 'unverified') return target;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** The store under verifiedReads() (verify hashes objects itself and reports what it finds). */
export function unverified(store: ObjectStore): ObjectStore {
  return (store as ObjectStore & { unverified?: ObjectStore }).unverified ?? store;
}
