/**
 * young-gc — frees spent network buffers early.
 *
 * A restore reads ~500 MB through 64 KiB socket chunks. Each chunk is a
 * tiny JS object holding 64 KiB outside the JS heap; V8 frees those only
 * when it collects the object, and it schedules collections by JS-heap
 * allocation, which a restore barely does — so spent chunks piled up to
 * V8's external-memory limit (~64 MB, measured: 44 MB of the agent's peak
 * RSS). A minor (young-generation) collection every 1 MB received lets V8 free
 * them for well under a millisecond each.
 *
 * The collector is V8's own `gc`, which node exposes when it starts with
 * `--expose-gc` (the bin/ds-backup.js shebang; tests and bench pass it when
 * they run node themselves). Without the flag (e.g. `node dist/…`) nothing
 * is collected early: memory use grows as before, nothing breaks.
 */
type GcFn = (opts?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

function collector(): GcFn | null {
  const g = (globalThis as { gc?: unknown }).gc;
  return typeof g === 'function' ? (g as GcFn) : null;
}

/** Counts received bytes and runs a minor collection every `every` bytes. */
export class YoungGc {
  private since = 0;

  constructor(private every = 1024 * 1024) {}

  received(n: number): void {
    this.since += n;
    if (this.since < this.every) return;
    this.since = 0;
    collector()?.({ type: 'minor' });
  }
}
