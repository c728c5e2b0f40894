// Reads a CRD's OpenAPI v3 schema into the shapes code generation works from.
//
// Only what a structural schema (apiextensions.k8s.io/v1) may say about a value's shape is kept: its type,
// properties and which are required, array items, map values (additionalProperties), enums, defaults and
// descriptions. Anything whose shape the schema leaves open (x-kubernetes-preserve-unknown-fields,
// x-kubernetes-int-or-string, no type at all) is `raw`: the generated code hands out the JSON value itself.

export type Shape =
  | { readonly type: 'string'; readonly enum?: readonly string[]; readonly default?: string }
  | {
      readonly type: 'integer';
      readonly int32: boolean;
      readonly enum?: readonly number[];
      readonly default?: number;
    }
  | { readonly type: 'number'; readonly default?: number }
  | { readonly type: 'boolean'; readonly default?: boolean }
  | { readonly type: 'object'; readonly fields: readonly Field[] }
  | { readonly type: 'map'; readonly values: Described }
  | { readonly type: 'array'; readonly items: Described }
  | { readonly type: 'raw' };

/** A shape and the schema's description of it. */
export interface Described {
  readonly shape: Shape;
  readonly description?: string;
}

export interface Field extends Described {
  /** The JSON property name, exactly as in the schema. */
  readonly name: string;
  readonly required: boolean;
}

/** A schema node as YAML gives it. */
interface SchemaNode {
  type?: unknown;
  format?: unknown;
  description?: unknown;
  properties?: Record<string, SchemaNode>;
  required?: unknown;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  enum?: unknown;
  default?: unknown;
  'x-kubernetes-preserve-unknown-fields'?: unknown;
  'x-kubernetes-int-or-string'?: unknown;
}

function isNode(value: unknown): value is SchemaNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function described(node: SchemaNode, shape: Shape): Described {
  return typeof node.description === 'string' && node.description.trim() !== ''
    ? { shape, description: node.description.trim() }
    : { shape };
}

/** The shape of one schema node (`undefined` or a non-object node reads as raw). */
export function readShape(node: unknown): Described {
  if (!isNode(node)) return { shape: { type: 'raw' } };
  if (node['x-kubernetes-int-or-string'] === true) return described(node, { type: 'raw' });
  switch (node.type) {
    case 'string': {
      const values = Array.isArray(node.enum) ? node.enum.filter((v): v is string => typeof v === 'string') : [];
      return described(node, {
        type: 'string',
        ...(values.length > 0 ? { enum: values } : {}),
        ...(typeof node.default === 'string' ? { default: node.default } : {}),
      });
    }
    case 'integer': {
      const values = Array.isArray(node.enum) ? node.enum.filter((v): v is number => Number.isSafeInteger(v)) : [];
      return described(node, {
        type: 'integer',
        int32: node.format === 'int32',
        ...(values.length > 0 ? { enum: values } : {}),
        ...(Number.isSafeInteger(node.default) ? { default: node.default as number } : {}),
      });
    }
    case 'number':
      return described(node, {
        type: 'number',
        ...(typeof node.default === 'number' ? { default: node.default } : {}),
      });
    case 'boolean':
      return described(node, {
        type: 'boolean',
        ...(typeof node.default === 'boolean' ? { default: node.default } : {}),
      });
    case 'array':
      return described(node, { type: 'array', items: readShape(node.items) });
    case 'object': {
      if (isNode(node.properties) && Object.keys(node.properties).length > 0) {
        const required = new Set(Array.isArray(node.required) ? node.required : []);
        const fields = Object.entries(node.properties).map(([name, child]) => ({
          name,
          required: required.has(name),
          ...readShape(child),
        }));
        return described(node, { type: 'object', fields });
      }
      if (isNode(node.additionalProperties)) {
        return described(node, { type: 'map', values: readShape(node.additionalProperties) });
      }
      // No properties and no value schema: an object the schema keeps open (preserve-unknown-fields), or one
      // the API server prunes to `{}`. Either way there is nothing to type, so the value itself is handed out.
      return described(node, { type: 'raw' });
    }
    default:
      return described(node, { type: 'raw' });
  }
}
