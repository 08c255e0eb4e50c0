/**
 * layers — an ESLint rule that keeps src/'s dependencies pointing one way:
 *
 *   agent, server  →  snapshot  →  journal  →  protocol  →  platform
 *
 * (each layer may use every layer to its right, never one to its left, and
 * agent and server never use each other). Every relative import of a file
 * under src/ is resolved to the folder it lands in and checked against
 * ALLOWED; an import of test/ or scripts/ from src/ is refused too.
 * Package imports (node:…, npm packages) are not this rule's business.
 */
import { dirname, relative, resolve, sep } from 'node:path';

const LOWER = ['platform', 'protocol', 'journal', 'snapshot'];
/** layer → the layers it may import (itself always). */
export const ALLOWED = {
  platform: [],
  protocol: ['platform'],
  journal: ['platform', 'protocol'],
  snapshot: ['platform', 'protocol', 'journal'],
  agent: LOWER,
  server: LOWER,
};

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

/** The layer a path under src/ belongs to, or null outside src/. */
function layerOf(path) {
  const rel = relative(SRC, path);
  if (rel.startsWith('..') || rel === '') return null;
  return rel.split(sep)[0];
}

function check(context, node, spec) {
  if (typeof spec !== 'string' || !spec.startsWith('.')) return;
  const from = layerOf(context.filename);
  if (from === null) return;
  const target = resolve(dirname(context.filename), spec);
  const to = layerOf(target);
  if (to === from) return;
  if (to === null) {
    context.report({ node, message: `src/${from} must not import outside src/ ('${spec}')` });
    return;
  }
  const allowed = ALLOWED[from];
  if (!allowed || !allowed.includes(to)) {
    const may = allowed && allowed.length ? allowed.join(', ') : 'nothing else in src/';
    context.report({
      node,
      message: `src/${from} must not import src/${to} ('${spec}'): ${from} may use ${may} (README, "Source layout")`,
    });
  }
}

export const layersRule = {
  meta: { type: 'problem', docs: { description: 'imports follow the layer order of src/' }, schema: [] },
  create(context) {
    const source = (node) => node.source && check(context, node.source, node.source.value);
    return {
      ImportDeclaration: source,
      ExportNamedDeclaration: source,
      ExportAllDeclaration: source,
      ImportExpression: (node) => node.source.type === 'Literal' && check(context, node.source, node.source.value),
    };
  },
};

export default { rules: { layers: layersRule } };
