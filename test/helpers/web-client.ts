/**
 * web-client — a tiny browser stand-in for web tests: fetch with one cookie
 * jar, redirects not followed (tests look at them), form posts with the page's
 * CSRF token, and a reader for the tar members of a .xob.
 */
import { gunzipSync } from 'node:zlib';

export class WebClient {
  cookies = new Map<string, string>();
  lastSetCookie: string[] = [];

  constructor(
    readonly base: string,
    readonly lang = 'en',
  ) {}

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.req('GET', path, undefined, headers);
  }

  async post(path: string, form: Record<string, string>): Promise<Response> {
    return this.req('POST', path, new URLSearchParams(form).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
    });
  }

  async req(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Response> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(this.base + path, {
      method,
      body,
      redirect: 'manual',
      headers: { 'accept-language': this.lang, ...(cookie ? { cookie } : {}), ...headers },
    });
    this.lastSetCookie = res.headers.getSetCookie();
    for (const c of this.lastSetCookie) {
      const [kv] = c.split(';');
      const i = kv.indexOf('=');
      const v = kv.slice(i + 1);
      if (v === '' || /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(kv.slice(0, i));
      else this.cookies.set(kv.slice(0, i), v);
    }
    return res;
  }

  async text(path: string): Promise<string> {
    const r = await this.get(path);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status}`);
    return r.text();
  }

  /** The _csrf value in a page. */
  static csrf(page: string): string {
    const m = /name="_csrf" value="([^"]*)"/.exec(page);
    if (!m) throw new Error('no CSRF field in page');
    return m[1];
  }
}

export interface TarFile {
  name: string;
  type: string;
  data: Buffer;
}

/** Members of a .tar.gz (ustar prefix and pax path records understood). */
export function readTarGz(buf: Buffer): TarFile[] {
  const tar = gunzipSync(buf);
  const out: TarFile[] = [];
  let pax: string | null = null;
  for (let p = 0; p + 512 <= tar.length;) {
    const h = tar.subarray(p, p + 512);
    if (h.every((b) => b === 0)) break;
    const str = (o: number, n: number) => h.toString('utf8', o, o + n).replace(/\0.*$/s, '');
    const size = parseInt(str(124, 12), 8) || 0;
    const type = str(156, 1) || '0';
    const sum = parseInt(str(148, 8), 8);
    let calc = 0;
    for (let i = 0; i < 512; i++) calc += i >= 148 && i < 156 ? 32 : h[i];
    if (sum !== calc) throw new Error(`tar: bad checksum at ${p}`);
    const data = tar.subarray(p + 512, p + 512 + size);
    p += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      pax = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'))?.[1] ?? null;
      continue;
    }
    const prefix = str(345, 155);
    const name = pax ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
    pax = null;
    out.push({ name, type, data: Buffer.from(data) });
  }
  return out;
}
