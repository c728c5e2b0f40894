// Keeps host/src layered: no import cycle between its folders, and abi/ (the vocabulary) imports no stage.
//
// Imports are read with TypeScript's own pre-processor (static, type-only, re-exports and dynamic
// import()), not a regex, and every relative specifier must name an existing file, so an import form the
// check does not understand fails it instead of being skipped. Unit tests (*.test.ts) may compose stages
// (a reflector test fills a real store) and are not part of the module graph; shipped test doubles
// (`testing/`) are.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../../host/src/', import.meta.url));

/** One import, as evidence for an edge between two layers. */
interface ImportEdge {
  readonly from: string;
  readonly to: string;
}

/** The layer of a file: its top folder under host/src, or the file itself for the root files (errors.ts, index.ts). */
function layerOf(file: string): string {
  return relative(SRC, file).split(sep)[0] as string;
}

function moduleFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...moduleFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** Every import between two different layers, keyed "from-layer -> to-layer". */
function layerImports(files: readonly string[]): Map<string, ImportEdge[]> {
  const edges = new Map<string, ImportEdge[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = resolve(dirname(file), fileName);
      assert.ok(existsSync(target), `${relative(SRC, file)} imports ${fileName}, which is no file`);
      if (relative(SRC, target).startsWith('..')) continue;
      const [a, b] = [layerOf(file), layerOf(target)];
      if (a === b) continue;
      const key = `${a} -> ${b}`;
      const list = edges.get(key) ?? [];
      list.push({ from: relative(SRC, file), to: relative(SRC, target) });
      edges.set(key, list);
    }
  }
  return edges;
}

/** The strongly connected components with more than one node (Tarjan): each holds at least one cycle. */
function importCycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node) as number);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) as number, index.get(next) as number));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop() as string;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1) components.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return components;
}

/** A shortest cycle through the first member of a component, as its hops "a -> b". */
function shortestCycle(graph: ReadonlyMap<string, ReadonlySet<string>>, members: readonly string[]): string[] {
  const start = members[0] as string;
  const cameFrom = new Map<string, string>();
  const frontier = [start];
  while (frontier.length > 0) {
    const node = frontier.shift() as string;
    for (const next of graph.get(node) ?? []) {
      if (!members.includes(next) || cameFrom.has(next)) continue;
      cameFrom.set(next, node);
      if (next === start) {
        const hops: string[] = [];
        for (let at = start, from = node; ; at = from, from = cameFrom.get(from) as string) {
          hops.unshift(`${from} -> ${at}`);
          if (from === start) return hops;
        }
      }
      frontier.push(next);
    }
  }
  throw new Error(`${members.join(', ')} is not a strongly connected component`);
}

function graphOf(edges: ReadonlyMap<string, readonly ImportEdge[]>): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const key of edges.keys()) {
    const [a, b] = key.split(' -> ') as [string, string];
    graph.set(a, (graph.get(a) ?? new Set()).add(b));
  }
  return graph;
}

describe('host/src layering', () => {
  const files = moduleFiles(SRC);
  const edges = layerImports(files);

  it('reads the import graph (the stages import each other the way the pipeline runs)', () => {
    assert.ok(files.length > 50, `only ${files.length} module files found under ${SRC}`);
    for (const expected of ['reconcile -> abi', 'executor -> kube', 'controller -> reconcile', 'manager -> runtime']) {
      assert.ok(edges.has(expected), `no import ${expected}: the import reader is broken`);
    }
  });

  it('has no import cycle between its folders', () => {
    const graph = graphOf(edges);
    const cycles = importCycles(graph).map((members) =>
      shortestCycle(graph, members).map((hop) => `${hop} (${edges.get(hop)?.[0]?.from})`),
    );
    assert.deepEqual(cycles, []);
  });

  it('abi/ imports no pipeline stage (only the error codes)', () => {
    const outward = [...edges].filter(([key]) => key.startsWith('abi -> ') && key !== 'abi -> errors.ts');
    assert.deepEqual(outward, []);
  });

  it('the cycle finder finds a cycle through three folders and ignores a diamond', () => {
    const graph = new Map<string, Set<string>>([
      ['abi', new Set(['errors.ts'])],
      ['reconcile', new Set(['abi', 'executor'])],
      ['executor', new Set(['abi', 'controller'])],
      ['controller', new Set(['reconcile', 'abi'])],
      ['manager', new Set(['controller', 'executor'])],
    ]);
    assert.deepEqual(importCycles(graph), [['controller', 'executor', 'reconcile']]);
    assert.deepEqual(shortestCycle(graph, ['controller', 'executor', 'reconcile']), [
      'controller -> reconcile',
      'reconcile -> executor',
      'executor -> controller',
    ]);
    graph.set('controller', new Set(['abi']));
    assert.deepEqual(importCycles(graph), []);
  });
});
