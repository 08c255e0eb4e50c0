/**
 * chunks — turns a document made piece by piece (a large JSON written a
 * folder or a tree at a time) into writes of about 256 KiB, so neither the
 * agent's commit body nor its cache file is ever held whole in memory.
 * String pieces are gathered; Buffer pieces pass through as they are.
 */
export const CHUNK_BYTES = 256 * 1024;

export function* gather(pieces: Iterable<string | Buffer>, size = CHUNK_BYTES): Generator<Buffer> {
  let text = '';
  for (const p of pieces) {
    if (typeof p === 'string') {
      text += p;
      if (text.length >= size) {
        yield Buffer.from(text);
        text = '';
      }
      continue;
    }
    if (text) {
      yield Buffer.from(text);
      text = '';
    }
    yield p;
  }
  if (text) yield Buffer.from(text);
}
