/**
 * dav/range — byte ranges of GET (RFC 9110 §14), one range per request.
 *
 * §14.2: "A server MAY ignore the Range header field." — several ranges
 * (multipart/byteranges) are answered with the whole file (200).
 * §14.1.2: "bytes=0-499" first 500 bytes; "bytes=9500-" from 9500 to the end;
 * "bytes=-500" the final 500 bytes. "If the last-pos value is absent, or if
 * the value is greater than or equal to the current length of the
 * representation data, the byte range is interpreted as the remainder".
 * §15.5.17 (416): "the server SHOULD generate a Content-Range header field
 * specifying the current length of the selected representation"
 * (bytes *\/length).
 * §13.1.5 If-Range: "the server SHOULD process the Range header field" only
 * when the validator matches; otherwise the whole representation (200).
 */
export type RangeDecision =
  { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

export function decideRange(
  range: string | undefined,
  size: number,
  ifRange: string | undefined,
  etag: string,
  lastModified: number,
): RangeDecision {
  if (!range) return { kind: 'full' };
  if (ifRange !== undefined) {
    const t = ifRange.trim();
    const ok = t.startsWith('"') ? t === etag : Date.parse(t) >= Math.floor(lastModified / 1000) * 1000;
    if (!ok) return { kind: 'full' };
  }
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(range);
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (end < start) return { kind: 'full' };
  return { kind: 'partial', start, end };
}
