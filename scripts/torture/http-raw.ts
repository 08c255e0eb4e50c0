/**
 * http-raw — one HTTP/1.1 request written byte for byte on a fresh socket,
 * so the fuzzer can send what fetch() refuses to (odd methods, NUL and raw
 * unicode in paths, contradictory headers, bodies that do not match their
 * type). The answer is read until the server closes the connection.
 */
import { connect } from 'node:net';

export interface RawRequest {
  method: string;
  path: string;
  headers: Array<[string, string]>;
  body?: Buffer;
}

export interface RawAnswer {
  /** 0 when the server closed the connection without answering. */
  status: number;
  head: string;
  body: Buffer;
  timedOut: boolean;
}

export function sendRaw(host: string, port: number, req: RawRequest, timeoutMs = 60_000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const sock = connect(port, host);
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      sock.destroy();
    }, timeoutMs);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, end < 0 ? Math.min(all.length, 2048) : end).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({
        status: m ? Number(m[1]) : 0,
        head,
        body: end < 0 ? Buffer.alloc(0) : all.subarray(end + 4),
        timedOut,
      });
    });
    const hasLength = req.headers.some(([k]) => /^(content-length|transfer-encoding)$/i.test(k));
    const lines = [`${req.method} ${req.path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
    for (const [k, v] of req.headers) lines.push(`${k}: ${v}`);
    if (req.body && !hasLength) lines.push(`Content-Length: ${req.body.length}`);
    sock.write(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8'));
    if (req.body) sock.write(req.body);
  });
}

/** One line describing a request, for failure reports: method, path, headers, the body's start. */
export function describe(req: RawRequest): string {
  const body = req.body
    ? ` body(${req.body.length} B)=${JSON.stringify(req.body.subarray(0, 160).toString('latin1'))}`
    : '';
  return `${req.method} ${JSON.stringify(req.path.slice(0, 300))} ${JSON.stringify(req.headers.map(([k, v]) => `${k}: ${v.slice(0, 120)}`))}${body}`;
}
