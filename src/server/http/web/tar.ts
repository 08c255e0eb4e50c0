/**
 * tar — a tiny streaming tar writer (POSIX ustar, with a pax header for
 * names or link targets that do not fit), enough for .xob files.
 *
 * tarHeader() builds one 512-byte header (plus a preceding pax extended
 * header when needed); tarPadding() the zero bytes after a member's data;
 * TAR_END the two zero blocks that end an archive. The caller yields the
 * member data itself, so nothing is buffered beyond one block.
 */

export interface TarMember {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeMs: number;
  size: number;
  linkTarget?: string;
}

export const TAR_END = Buffer.alloc(1024);

function octal(n: number, width: number): string {
  return (
    Math.max(0, Math.floor(n))
      .toString(8)
      .padStart(width - 1, '0') + '\0'
  );
}

function splitName(path: string): { name: string; prefix: string } | null {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) return { name, prefix };
  }
  return null;
}

function block(fields: {
  name: string;
  prefix: string;
  mode: number;
  size: number;
  mtime: number;
  type: string;
  link: string;
}): Buffer {
  const b = Buffer.alloc(512);
  b.write(fields.name, 0, 100, 'utf8');
  b.write(octal(fields.mode, 8), 100, 'ascii');
  b.write(octal(0, 8), 108, 'ascii');
  b.write(octal(0, 8), 116, 'ascii');
  b.write(octal(fields.size, 12), 124, 'ascii');
  b.write(octal(fields.mtime, 12), 136, 'ascii');
  b.write('        ', 148, 'ascii');
  b.write(fields.type, 156, 'ascii');
  b.write(fields.link, 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 'ascii');
  b.write('olpc', 265, 'ascii');
  b.write('olpc', 297, 'ascii');
  b.write(fields.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return b;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** Header block(s) for one member. */
export function tarHeader(m: TarMember): Buffer {
  const path = m.type === 'dir' && !m.path.endsWith('/') ? `${m.path}/` : m.path;
  const split = splitName(path);
  const link = m.linkTarget ?? '';
  const longLink = Buffer.byteLength(link) > 100;
  const type = m.type === 'file' ? '0' : m.type === 'dir' ? '5' : '2';
  const size = m.type === 'file' ? m.size : 0;
  const mtime = m.mtimeMs / 1000;
  const main = block({
    name: split ? split.name : path.slice(-100).replace(/^[^/]*\//, ''),
    prefix: split ? split.prefix : '',
    mode: m.mode,
    size,
    mtime,
    type,
    link: longLink ? '' : link,
  });
  if (split && !longLink) return main;
  const pax = Buffer.from((split ? '' : paxRecord('path', path)) + (longLink ? paxRecord('linkpath', link) : ''));
  const paxHead = block({ name: 'PaxHeader', prefix: '', mode: 0o644, size: pax.length, mtime, type: 'x', link: '' });
  return Buffer.concat([paxHead, pax, tarPadding(pax.length), main]);
}

export function tarPadding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}
