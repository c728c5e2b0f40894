// Structural comparisons of JSON values that decide whether a write would change anything.

/** Plain JSON object (not an array, not null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * True when every field present in `desired` has the same value in `observed`. Fields only `observed` has
 * (server defaults, other managers' fields) are ignored. Arrays must match element by element with equal
 * length, because extra observed entries may be ours from an earlier apply; null in `desired` never
 * matches, because in an apply it asks for a removal the observed state cannot confirm.
 */
export function isSubset(desired: unknown, observed: unknown): boolean {
  if (desired === null) return false;
  if (Array.isArray(desired)) {
    if (!Array.isArray(observed) || observed.length !== desired.length) return false;
    for (let i = 0; i < desired.length; i++) {
      if (!isSubset(desired[i], observed[i])) return false;
    }
    return true;
  }
  if (isObject(desired)) {
    if (!isObject(observed)) return false;
    for (const key of Object.keys(desired)) {
      if (!Object.hasOwn(observed, key) || !isSubset(desired[key], observed[key])) return false;
    }
    return true;
  }
  return desired === observed;
}

/** Deep equality of JSON values; key order does not matter. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (!jsonEqual(a[i], b[i])) return false;
    }
    return true;
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    for (const key of keys) {
      if (!Object.hasOwn(b, key) || !jsonEqual(a[key], b[key])) return false;
    }
    return true;
  }
  return false;
}
