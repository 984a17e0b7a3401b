/**
 * The shape of ts/: no module imports itself through others (no import cycle, type-only imports
 * included), and no file is over 450 lines. The relative imports are read from the sources.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsDir = join(root, 'ts');
const MAX_LINES = 450;

/** Every .ts / .cts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : /\.c?ts$/.test(f) ? [p] : [];
  });
}

/** The relative module specifiers a source imports or re-exports (static, side-effect and dynamic imports). */
function relativeImports(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const specs = [
    ...code.matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)'/g),
    ...code.matchAll(/^\s*import\s+'(\.{1,2}\/[^']+)'/gm),
    ...code.matchAll(/\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g),
  ].map((m) => m[1]!);
  return [...new Set(specs)];
}

/** The source file a specifier of `from` names: `./x.js` is x.ts, `./x.cjs` is x.cts. */
function resolveSpecifier(from: string, spec: string): string {
  const target = resolve(dirname(from), spec);
  return target.replace(/\.js$/, '.ts').replace(/\.cjs$/, '.cts');
}

/**
 * One import cycle of `graph` as a path that starts and ends at the same module, or null when
 * there is none (depth-first search; a module on the current path that is reached again closes a cycle).
 */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | null {
  const done = new Set<string>();
  const onPath = new Map<string, number>();
  const path: string[] = [];
  const visit = (node: string): string[] | null => {
    if (done.has(node)) return null;
    const at = onPath.get(node);
    if (at !== undefined) return [...path.slice(at), node];
    onPath.set(node, path.length);
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    onPath.delete(node);
    done.add(node);
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

test('the cycle finder finds cycles (self, two, three modules) and accepts a diamond', (t) => {
  const g = (edges: Record<string, string[]>): Map<string, string[]> => new Map(Object.entries(edges));
  t.is(findCycle(g({ a: ['b', 'c'], b: ['d'], c: ['d'], d: [] })), null);
  t.deepEqual(findCycle(g({ a: ['a'] })), ['a', 'a']);
  t.deepEqual(findCycle(g({ a: ['b'], b: ['a'] })), ['a', 'b', 'a']);
  t.deepEqual(findCycle(g({ x: ['a'], a: ['b'], b: ['c'], c: ['a'] })), ['a', 'b', 'c', 'a']);
  t.is(findCycle(g({})), null);
});

test('relativeImports reads static, multi-line, type-only, side-effect and dynamic imports, not comments', (t) => {
  const src = [
    "import { a } from './a.js';",
    'import {',
    '  b,',
    "  type B,",
    "} from '../b.js';",
    "import type { C } from './c/index.js';",
    "export { d } from './d.js';",
    "export * from './e.js';",
    "import './f.js';",
    "const g = await import('./g.js');",
    "import { h } from 'node:fs';",
    "// import { x } from './commented.js';",
    "/** import { y } from './doc.js'; */",
  ].join('\n');
  t.deepEqual(relativeImports(src).sort(), ['../b.js', './a.js', './c/index.js', './d.js', './e.js', './f.js', './g.js']);
});

test('ts/ has no import cycle, every relative import names a file, and no file is over 450 lines', (t) => {
  const files = sources(tsDir);
  t.true(files.length > 50, `${files.length} files`);
  const graph = new Map<string, string[]>();
  const rel = (f: string): string => relative(root, f);
  for (const file of files) {
    const source = readFileSync(file, 'utf8');
    const lines = source.split('\n').length - (source.endsWith('\n') ? 1 : 0);
    t.true(lines <= MAX_LINES, `${rel(file)} has ${lines} lines (at most ${MAX_LINES}): split it`);
    const deps = relativeImports(source).map((spec) => {
      const target = resolveSpecifier(file, spec);
      t.true(existsSync(target), `${rel(file)} imports ${spec}, which is not a source file`);
      return rel(target);
    });
    graph.set(rel(file), deps);
  }
  const cycle = findCycle(graph);
  t.is(cycle, null, `import cycle: ${cycle?.join(' -> ')}`);
});
