/**
 * dav/xml — the XML of PROPFIND: reading the request body and writing the
 * 207 Multi-Status answer (RFC 4918 §9.1, §13, §14).
 *
 * Names are compared as (namespace URI, local name), so prefixes do not
 * matter: "all elements in this specification are in the 'DAV:' namespace"
 * (§14). fast-xml-parser checks that the body is well-formed; namespaces
 * are resolved here, with a scope per element. A prefix declared empty
 * (xmlns:p="") is not allowed by Namespaces in XML 1.0 and answers 400.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { AppError } from '../../../platform/errors.js';

export interface XName {
  ns: string;
  local: string;
}

export type PropfindRequest = { type: 'allprop' } | { type: 'propname' } | { type: 'prop'; names: XName[] };

interface Elem {
  name: XName;
  children: Elem[];
}

type RawNode = Record<string, unknown>;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  processEntities: false,
});

function bad(msg: string): AppError {
  return new AppError('bad_request', `PROPFIND body: ${msg}`);
}

function elements(nodes: RawNode[], scope: Map<string, string>): Elem[] {
  const out: Elem[] = [];
  for (const node of nodes) {
    const tag = Object.keys(node).find((k) => k !== ':@');
    if (!tag || tag === '#text' || tag.startsWith('?') || tag.startsWith('!')) continue;
    const attrs = (node[':@'] ?? {}) as Record<string, string>;
    const inner = new Map(scope);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'xmlns') inner.set('', v);
      else if (k.startsWith('xmlns:')) {
        if (v === '') throw bad(`namespace prefix "${k.slice(6)}" declared empty`);
        inner.set(k.slice(6), v);
      }
    }
    const colon = tag.indexOf(':');
    const prefix = colon < 0 ? '' : tag.slice(0, colon);
    const ns = inner.get(prefix);
    if (ns === undefined && prefix) throw bad(`undeclared namespace prefix "${prefix}"`);
    out.push({
      name: { ns: ns ?? '', local: tag.slice(colon + 1) },
      children: elements(node[tag] as RawNode[], inner),
    });
  }
  return out;
}

const MAX_NESTING = 64;

/** How deep the elements of an XML text nest (a tag scan: a '<' in a comment may overcount, never under). */
function nesting(xml: string): number {
  let depth = 0;
  let max = 0;
  for (let i = xml.indexOf('<'); i >= 0; i = xml.indexOf('<', i + 1)) {
    const c = xml[i + 1];
    if (c === '/') depth--;
    else if (c !== '?' && c !== '!') {
      const end = xml.indexOf('>', i);
      if (end < 0) break;
      if (xml[end - 1] !== '/') max = Math.max(max, ++depth);
    }
  }
  return max;
}

const isDav = (e: Elem, local: string) => e.name.ns === 'DAV:' && e.name.local === local;

/**
 * RFC 4918 §9.1: "A client may choose not to submit a request body. An
 * empty PROPFIND request body MUST be treated as if it were an 'allprop'
 * request."
 */
export function parsePropfind(body: string): PropfindRequest {
  if (!body.trim()) return { type: 'allprop' };
  // A PROPFIND nests 3–4 elements; thousands (well within the body limit) would overflow the parser's stack.
  if (nesting(body) > MAX_NESTING) throw bad(`elements nest deeper than ${MAX_NESTING} levels`);
  if (XMLValidator.validate(body) !== true) throw bad('not well-formed XML');
  const roots = elements(parser.parse(body) as RawNode[], new Map([['xml', 'http://www.w3.org/XML/1998/namespace']]));
  const root = roots[0];
  if (!root || !isDav(root, 'propfind')) throw bad('the root element must be DAV:propfind');
  for (const c of root.children) {
    if (isDav(c, 'allprop')) return { type: 'allprop' };
    if (isDav(c, 'propname')) return { type: 'propname' };
    if (isDav(c, 'prop')) return { type: 'prop', names: c.children.map((p) => p.name) };
  }
  throw bad('expected allprop, propname or prop');
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** One property element; a property outside DAV: declares its own namespace. */
export function propXml(name: XName, value = ''): string {
  if (name.ns === '') return value ? `<${name.local} xmlns="">${value}</${name.local}>` : `<${name.local} xmlns=""/>`;
  const open = name.ns === 'DAV:' ? `D:${name.local}` : `x:${name.local} xmlns:x="${escapeXml(name.ns)}"`;
  const tag = name.ns === 'DAV:' ? `D:${name.local}` : `x:${name.local}`;
  return value ? `<${open}>${value}</${tag}>` : `<${open}/>`;
}

export interface Propstat {
  status: string;
  props: string[];
}

/**
 * §14.16 multistatus: "one or more response elements"; §14.24 response:
 * "href, (status | propstat+)" — each propstat groups properties with one
 * status (200 found, 404 not found).
 */
export function multistatus(responses: Array<{ href: string; propstats: Propstat[] }>): string {
  const body = responses
    .map(
      (r) =>
        `<D:response><D:href>${escapeXml(r.href)}</D:href>${r.propstats
          .filter((p) => p.props.length)
          .map((p) => `<D:propstat><D:prop>${p.props.join('')}</D:prop><D:status>${p.status}</D:status></D:propstat>`)
          .join('')}</D:response>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n${body}\n</D:multistatus>\n`;
}
