// Bounds the shape of an untrusted JSON value: nesting depth, number of values, string length, keys per object.
//
// Everything downstream of a guest output (the executor's comparisons, digests, JSON.stringify for the API
// request) walks it recursively, so its nesting must be bounded before any of that runs. The walk here keeps
// its own stack, so a 100,000-deep value is reported as a violation instead of overflowing the host's stack.

export interface ShapeLimits {
  /** Nested objects and arrays, the value itself being level 1. */
  readonly depth: number;
  /** JSON values of every kind (objects, arrays, scalars), the value itself included. */
  readonly values: number;
  /** UTF-16 code units of one string, object keys included. */
  readonly stringChars: number;
  /** Keys of one object. */
  readonly objectKeys: number;
}

export interface ShapeViolation {
  /** JSON path of the offending value, e.g. `$.status.a.b[3]`; long keys are clipped. */
  readonly path: string;
  readonly limit: keyof ShapeLimits;
  readonly max: number;
  readonly problem: string;
}

/** A container waiting for its entries to be checked; parents form the path, built only on a violation. */
interface Node {
  readonly value: object;
  readonly parent: Node | undefined;
  readonly key: string | number | undefined;
  readonly depth: number;
}

/** Paths travel into error messages, events and CR status: a guest-chosen key must not make them unbounded. */
const MAX_PATH_KEY_CHARS = 64;

/** `.key` or `[index]`, the key clipped to MAX_PATH_KEY_CHARS. */
export function pathSegment(key: string | number): string {
  if (typeof key === 'number') return `[${key}]`;
  return key.length > MAX_PATH_KEY_CHARS ? `.${key.slice(0, MAX_PATH_KEY_CHARS)}...` : `.${key}`;
}

function pathOf(rootPath: string, parent: Node | undefined, key: string | number | undefined): string {
  const segments: string[] = [];
  if (key !== undefined) segments.push(pathSegment(key));
  for (let node = parent; node !== undefined; node = node.parent) {
    if (node.key !== undefined) segments.push(pathSegment(node.key));
  }
  return rootPath + segments.reverse().join('');
}

/** The first value of `root` that breaks `limits` (depth first), or undefined when it is within all of them. */
export function findShapeViolation(root: unknown, limits: ShapeLimits, rootPath = '$'): ShapeViolation | undefined {
  let values = 0;
  const pending: Node[] = [];
  const violation = (
    parent: Node | undefined,
    key: string | number | undefined,
    limit: keyof ShapeLimits,
    problem: string,
  ): ShapeViolation => ({ path: pathOf(rootPath, parent, key), limit, max: limits[limit], problem });

  // Scalars are checked in place; only containers are queued, so the walk allocates per container.
  const check = (value: unknown, parent: Node | undefined, key: string | number | undefined, depth: number) => {
    if (++values > limits.values) {
      return violation(parent, key, 'values', `brings the output over ${limits.values} JSON values`);
    }
    if (typeof value === 'string') {
      return value.length > limits.stringChars
        ? violation(parent, key, 'stringChars', `must be at most ${limits.stringChars} characters`)
        : undefined;
    }
    if (typeof value !== 'object' || value === null) return undefined;
    if (depth > limits.depth) return violation(parent, key, 'depth', `nests deeper than ${limits.depth} levels`);
    pending.push({ value, parent, key, depth });
    return undefined;
  };

  let found = check(root, undefined, undefined, 1);
  while (found === undefined && pending.length > 0) {
    const node = pending.pop() as Node;
    if (Array.isArray(node.value)) {
      const items: unknown[] = node.value;
      for (let i = 0; i < items.length && found === undefined; i++) found = check(items[i], node, i, node.depth + 1);
      continue;
    }
    const object = node.value as Record<string, unknown>;
    const keys = Object.keys(object);
    if (keys.length > limits.objectKeys) {
      return violation(node.parent, node.key, 'objectKeys', `must have at most ${limits.objectKeys} keys`);
    }
    for (let i = 0; i < keys.length && found === undefined; i++) {
      const key = keys[i] as string;
      found =
        key.length > limits.stringChars
          ? violation(node, key, 'stringChars', `has a key longer than ${limits.stringChars} characters`)
          : check(object[key], node, key, node.depth + 1);
    }
  }
  return found;
}
