/**
 * xmlrpc — the small part of XML-RPC that Sugar's "Register" menu speaks.
 *
 * parseCall() reads a `<methodCall>` whose params are scalars (string, int,
 * boolean; a bare `<value>text</value>` is a string, as the spec says) and
 * returns the method name and the params as strings. Anything else — not
 * XML, a DOCTYPE (entity expansion), arrays or structs as params, a body
 * over the route's limit — is an XmlRpcFault, which the route answers as an
 * XML-RPC `<fault>` (HTTP 200, as XML-RPC requires).
 * structResponse()/faultResponse() build the answers; every text is escaped.
 * Parsing uses fast-xml-parser with entity processing limited to the five
 * predefined entities and numeric references.
 */
import { XMLParser } from 'fast-xml-parser';

export class XmlRpcFault extends Error {
  constructor(
    readonly faultCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'XmlRpcFault';
  }
}

/** Fault codes (the de-facto "specification for fault code interoperability"). */
export const FAULT = {
  parse: -32700,
  invalidRequest: -32600,
  noMethod: -32601,
  invalidParams: -32602,
  internal: -32603,
} as const;

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  isArray: (name) => name === 'param' || name === 'member',
});

const SCALARS = ['string', 'int', 'i4', 'boolean', 'double'] as const;

function scalar(value: unknown, i: number): string {
  if (value === '' || value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') {
    const keys = Object.keys(value as object);
    const v = value as Record<string, unknown>;
    if (keys.length === 1 && (SCALARS as readonly string[]).includes(keys[0])) {
      const inner = v[keys[0]];
      if (inner === '' || inner === undefined) return '';
      if (typeof inner === 'string') return inner;
    }
  }
  throw new XmlRpcFault(FAULT.invalidParams, `param ${i + 1} is not a string`);
}

export interface XmlRpcCall {
  method: string;
  params: string[];
}

export function parseCall(body: string): XmlRpcCall {
  if (/<!DOCTYPE|<!ENTITY/i.test(body))
    throw new XmlRpcFault(FAULT.invalidRequest, 'DOCTYPE is not allowed in XML-RPC');
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(body, true) as Record<string, unknown>;
  } catch (e) {
    throw new XmlRpcFault(FAULT.parse, `not well-formed XML: ${(e as Error).message.split('\n')[0]}`);
  }
  const call = doc.methodCall as Record<string, unknown> | undefined;
  if (!call || typeof call !== 'object') throw new XmlRpcFault(FAULT.invalidRequest, 'not an XML-RPC methodCall');
  const method = call.methodName;
  if (typeof method !== 'string' || !/^[A-Za-z0-9_.:/]{1,100}$/.test(method))
    throw new XmlRpcFault(FAULT.invalidRequest, 'missing or bad methodName');
  const paramsNode = call.params as { param?: Array<{ value?: unknown }> } | '' | undefined;
  const list = paramsNode && typeof paramsNode === 'object' ? (paramsNode.param ?? []) : [];
  if (list.length > 16) throw new XmlRpcFault(FAULT.invalidParams, 'too many params');
  const params = list.map((p, i) => {
    if (!p || typeof p !== 'object' || !('value' in p))
      throw new XmlRpcFault(FAULT.invalidParams, `param ${i + 1} has no value`);
    return scalar(p.value, i);
  });
  return { method, params };
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const HEAD = '<?xml version="1.0"?>\n';

/** A methodResponse holding one struct of string members. */
export function structResponse(members: Record<string, string>): string {
  const body = Object.entries(members)
    .map(([k, v]) => `<member><name>${escapeXml(k)}</name><value><string>${escapeXml(v)}</string></value></member>`)
    .join('\n');
  return `${HEAD}<methodResponse>\n<params>\n<param>\n<value><struct>\n${body}\n</struct></value>\n</param>\n</params>\n</methodResponse>\n`;
}

export function faultResponse(code: number, message: string): string {
  return (
    `${HEAD}<methodResponse>\n<fault>\n<value><struct>\n` +
    `<member><name>faultCode</name><value><int>${code}</int></value></member>\n` +
    `<member><name>faultString</name><value><string>${escapeXml(message)}</string></value></member>\n` +
    '</struct></value>\n</fault>\n</methodResponse>\n'
  );
}
