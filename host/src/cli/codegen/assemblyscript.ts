// Emits AssemblyScript classes for a primary kind's spec and status, over the SDK's lazy JSON API.
//
// Readers wrap a JsonValue and decode a field only when it is read (the SDK's model: nothing is decoded
// up front), so `WebAppSpec.of(ctx.primary).replicas` costs one member lookup. The status writer wraps the
// SDK's ObjectWriter: required scalar fields are parameters of the call that opens their object, so leaving
// one out fails the build instead of the API server's validation. Enums become classes of constants, so a
// misspelt value is a compile error too.

import type { Described, Field, Shape } from './schema.ts';

export interface TypesInput {
  readonly kind: string;
  readonly apiVersion: string;
  /** The CRD file the types come from, for the header. */
  readonly source: string;
  readonly spec: Described | undefined;
  readonly status: Described | undefined;
}

const SDK = '@wasm-reconciler/sdk-assemblyscript/assembly';

/**
 * Words the AssemblyScript parser refuses as member names. Contextual ones (`type`, `namespace`, `get`...)
 * are fine there and common in CRDs, so they keep their name.
 */
const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for ' +
    'function if import in instanceof new null return super switch this throw true try typeof var void while with ' +
    'yield let static implements interface package private protected public await constructor json w'
  ).split(' '),
);

/** Status fields the SDK or the host write: `ctx.out.condition()` fills conditions, the host observedGeneration. */
const WRITTEN_ELSEWHERE: Record<string, string> = {
  conditions: 'written by ctx.out.condition(type, status, reason, message)',
  observedGeneration: 'set by the host',
};

/** `WebApp` from `web-app`, `WebApp`, `web_app`; a leading digit gets an `N`. */
export function pascal(name: string): string {
  const parts = name.split(/[^A-Za-z0-9]+/).filter((p) => p !== '');
  const joined = parts.map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');
  if (joined === '') return 'Field';
  return /^[0-9]/.test(joined) ? `N${joined}` : joined;
}

/** A member name for a JSON property: the property itself when it is an identifier the parser accepts. */
export function memberName(name: string): string {
  const base = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)
    ? name
    : (() => {
        const p = pascal(name);
        return p.charAt(0).toLowerCase() + p.slice(1);
      })();
  return RESERVED.has(base) ? `${base}_` : base;
}

/** `WEB_APP` from `WebApp`. */
export function constantName(kind: string): string {
  return kind
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toUpperCase();
}

function doc(lines: readonly (string | undefined)[], indent: string): string {
  const text = lines
    .filter((l): l is string => l !== undefined && l !== '')
    .join('\n')
    .replaceAll('*/', '*\\/');
  if (text === '') return '';
  const body = text.split('\n');
  if (body.length === 1) return `${indent}/** ${body[0]} */\n`;
  return `${indent}/**\n${body.map((l) => `${indent} *${l === '' ? '' : ` ${l}`}`).join('\n')}\n${indent} */\n`;
}

function literal(value: string | number | boolean): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** The AssemblyScript type a reader returns for a scalar shape, or undefined for composite ones. */
function scalarType(shape: Shape): string | undefined {
  switch (shape.type) {
    case 'string':
      return 'string';
    case 'integer':
      return shape.int32 ? 'i32' : 'i64';
    case 'number':
      return 'f64';
    case 'boolean':
      return 'bool';
    default:
      return undefined;
  }
}

/** Reads a scalar from the JsonValue expression `v` with the schema default as the fallback. */
function readScalar(shape: Shape, v: string): string {
  switch (shape.type) {
    case 'string':
      return `${v}.str(${shape.default === undefined ? '' : literal(shape.default)})`;
    case 'integer': {
      const read = `${v}.int(${shape.default === undefined ? '' : literal(shape.default)})`;
      return shape.int32 ? `<i32>${read}` : read;
    }
    case 'number':
      return `${v}.num(${shape.default === undefined ? '' : literal(shape.default)})`;
    case 'boolean':
      return `${v}.bool(${shape.default === undefined ? '' : literal(shape.default)})`;
    default:
      throw new Error(`not a scalar: ${shape.type}`);
  }
}

/** The ObjectWriter/ArrayWriter method that writes a scalar, and how the value is passed to it. */
function writeScalar(shape: Shape, value: string): { method: string; arg: string } {
  switch (shape.type) {
    case 'string':
      return { method: 'str', arg: value };
    case 'integer':
      return { method: 'int', arg: shape.int32 ? `<i64>${value}` : value };
    case 'number':
      return { method: 'num', arg: value };
    case 'boolean':
      return { method: 'bool', arg: value };
    default:
      throw new Error(`not a scalar: ${shape.type}`);
  }
}

function fieldNotes(field: Described & { required?: boolean }, enumClass: string | undefined): string[] {
  const shape = field.shape;
  const notes: string[] = [];
  if (field.required !== undefined) {
    const fallback =
      'default' in shape && shape.default !== undefined ? `default ${literal(shape.default)}` : undefined;
    notes.push(field.required ? 'Required.' : `Optional${fallback === undefined ? '' : `; ${fallback}`}.`);
  }
  if (enumClass !== undefined) notes.push(`One of the ${enumClass} constants.`);
  if (shape.type === 'raw') notes.push('Its shape is open in the schema: the JSON value itself.');
  return notes;
}

class Emitter {
  readonly #blocks: string[] = [];
  readonly #names = new Set<string>();
  readonly imports = new Set<string>(['JsonValue']);
  /** Enum constant classes by schema path, shared by the status reader and writer. */
  readonly #enums = new Map<string, string>();

  /** A class name not used yet, from `base`. */
  name(base: string): string {
    let name = base;
    for (let i = 2; this.#names.has(name); i++) name = `${base}${i}`;
    this.#names.add(name);
    return name;
  }

  add(block: string): void {
    this.#blocks.push(block);
  }

  get blocks(): readonly string[] {
    return this.#blocks;
  }

  /** The constants class of an enum field, emitted once per schema path. */
  enumClass(path: string, base: string, shape: Shape): string | undefined {
    if ((shape.type !== 'string' && shape.type !== 'integer') || shape.enum === undefined) return undefined;
    const known = this.#enums.get(path);
    if (known !== undefined) return known;
    const name = this.name(base);
    this.#enums.set(path, name);
    const type = shape.type === 'string' ? 'string' : shape.int32 ? 'i32' : 'i64';
    const used = new Set<string>();
    const members = (shape.enum as readonly (string | number)[]).map((value) => {
      let member =
        typeof value === 'number' ? `V${value < 0 ? `Minus${-value}` : value}` : value === '' ? 'Empty' : pascal(value);
      for (let i = 2; used.has(member); i++) member = `${member}${i}`;
      used.add(member);
      return `  static readonly ${member}: ${type} = ${literal(value)};`;
    });
    this.add(`${doc([`The values ${path} may take.`], '')}export class ${name} {\n${members.join('\n')}\n}\n`);
    return name;
  }

  // Readers ---------------------------------------------------------------------------------------------

  /** The type a reader returns for `d` at `path`, emitting the classes it needs; and how to read it from `v`. */
  reader(d: Described, path: string, base: string): { type: string; read: (v: string) => string } {
    const shape = d.shape;
    const scalar = scalarType(shape);
    if (scalar !== undefined) return { type: scalar, read: (v) => readScalar(shape, v) };
    switch (shape.type) {
      case 'object': {
        const name = this.objectReader(d, path, base, undefined);
        return { type: name, read: (v) => `new ${name}(${v})` };
      }
      case 'array': {
        const name = this.listReader(d, path, base);
        return { type: name, read: (v) => `new ${name}(${v})` };
      }
      case 'map': {
        const name = this.mapReader(d, path, base);
        return { type: name, read: (v) => `new ${name}(${v})` };
      }
      default:
        return { type: 'JsonValue', read: (v) => v };
    }
  }

  objectReader(d: Described, path: string, base: string, root: { from: string } | undefined): string {
    const name = this.name(base);
    const fields = d.shape.type === 'object' ? d.shape.fields : [];
    const members: string[] = [];
    if (root !== undefined) {
      this.imports.add('ObjectView');
      members.push(
        `  /** ${path} of \`primary\` (a view: valid during the call that received it). */\n` +
          `  static of(primary: ObjectView): ${name} {\n    return new ${name}(primary.${root.from});\n  }\n`,
      );
    }
    const used = new Set<string>();
    for (const field of fields) {
      let member = memberName(field.name);
      for (let i = 2; used.has(member); i++) member = `${memberName(field.name)}${i}`;
      used.add(member);
      const fieldPath = `${path}.${field.name}`;
      const enumClass = this.enumClass(fieldPath, `${base}${pascal(field.name)}`, field.shape);
      const { type, read } = this.reader(field, fieldPath, `${base}${pascal(field.name)}`);
      const key = JSON.stringify(field.name);
      members.push(
        `${doc([field.description, ...fieldNotes(field, enumClass)], '  ')}  get ${member}(): ${type} {\n` +
          `    return ${read(`this.json.get(${key})`)};\n  }\n`,
      );
      if (!field.required) {
        members.push(
          `  /** True when ${fieldPath} is set (not missing, not null). */\n` +
            `  has${pascal(member)}(): bool {\n    const v = this.json.get(${key});\n    return v.exists() && !v.isNull();\n  }\n`,
        );
      }
    }
    const open = d.shape.type === 'raw' ? ['The schema keeps this object open: read it through `json`.'] : [];
    this.add(
      `${doc([d.description ?? `${path}.`, ...open], '')}export class ${name} {\n` +
        `  constructor(public json: JsonValue) {}\n\n${members.join('\n')}}\n`,
    );
    return name;
  }

  listReader(d: Described, path: string, base: string): string {
    const items = (d.shape as Extract<Shape, { type: 'array' }>).items;
    const list = this.name(`${base}List`);
    const iter = this.name(`${base}Iter`);
    const { type, read } = this.reader(items, `${path}[]`, `${base}Item`);
    this.imports.add('ArrayIter');
    this.add(
      `${doc([`${path}: a list (a view over the input; \`at(i)\` walks from the start, \`items()\` once).`], '')}` +
        `export class ${list} {\n  constructor(public json: JsonValue) {}\n\n` +
        `  get length(): i32 {\n    return this.json.length();\n  }\n\n` +
        `  at(index: i32): ${type} {\n    return ${read('this.json.at(index)')};\n  }\n\n` +
        `  /** \`const it = list.items(); while (it.next()) use(it.value);\` */\n` +
        `  items(): ${iter} {\n    return new ${iter}(this.json.items());\n  }\n}\n`,
    );
    this.add(
      `export class ${iter} {\n  private it: ArrayIter;\n\n  constructor(it: ArrayIter) {\n    this.it = it;\n  }\n\n` +
        `  next(): bool {\n    return this.it.next();\n  }\n\n` +
        `  get value(): ${type} {\n    return ${read('this.it.value')};\n  }\n}\n`,
    );
    return list;
  }

  mapReader(d: Described, path: string, base: string): string {
    const values = (d.shape as Extract<Shape, { type: 'map' }>).values;
    const map = this.name(`${base}Map`);
    const iter = this.name(`${base}MapIter`);
    const { type, read } = this.reader(values, `${path}[*]`, `${base}Value`);
    this.imports.add('ObjectIter');
    this.add(
      `${doc([`${path}: a map from string keys.`], '')}export class ${map} {\n  constructor(public json: JsonValue) {}\n\n` +
        `  get length(): i32 {\n    return this.json.length();\n  }\n\n` +
        `  has(key: string): bool {\n    return this.json.get(key).exists();\n  }\n\n` +
        `  get(key: string): ${type} {\n    return ${read('this.json.get(key)')};\n  }\n\n` +
        `  /** \`const it = map.entries(); while (it.next()) use(it.key(), it.value);\` */\n` +
        `  entries(): ${iter} {\n    return new ${iter}(this.json.members());\n  }\n}\n`,
    );
    this.add(
      `export class ${iter} {\n  private it: ObjectIter;\n\n  constructor(it: ObjectIter) {\n    this.it = it;\n  }\n\n` +
        `  next(): bool {\n    return this.it.next();\n  }\n\n  key(): string {\n    return this.it.key();\n  }\n\n` +
        `  get value(): ${type} {\n    return ${read('this.it.value')};\n  }\n}\n`,
    );
    return map;
  }

  // Writers ---------------------------------------------------------------------------------------------

  /** Required scalar fields of an object shape: the parameters of the call that opens it. */
  requiredScalars(shape: Shape): { field: Field; param: string; type: string }[] {
    if (shape.type !== 'object') return [];
    return shape.fields
      .filter((f) => f.required && scalarType(f.shape) !== undefined)
      .map((f) => ({ field: f, param: memberName(f.name), type: scalarType(f.shape) as string }));
  }

  /** Statements that write the required scalars of `shape` through the writer expression `w`. */
  writeRequired(shape: Shape, w: string, indent: string): string {
    return this.requiredScalars(shape)
      .map(({ field, param }) => {
        const { method, arg } = writeScalar(field.shape, param);
        return `${indent}${w}.${method}(${JSON.stringify(field.name)}, ${arg});\n`;
      })
      .join('');
  }

  objectWriter(d: Described, path: string, base: string, isRoot: boolean): string {
    const name = this.name(`${base}Writer`);
    this.imports.add('ObjectWriter');
    const shape = d.shape;
    const fields = shape.type === 'object' ? shape.fields : [];
    const members: string[] = [];
    if (isRoot) {
      this.imports.add('Output');
      const params = this.requiredScalars(shape);
      const signature = ['out: Output', ...params.map((p) => `${p.param}: ${p.type}`)].join(', ');
      members.push(
        `${doc([`Starts ${path} in this call's output${params.length > 0 ? ', with its required fields' : ''}.`], '  ')}` +
          `  static of(${signature}): ${name} {\n    const s = new ${name}(out.status());\n` +
          `${this.writeRequired(shape, 's.w', '    ')}    return s;\n  }\n`,
      );
    }
    const used = new Set<string>();
    for (const field of fields) {
      const skipped = isRoot ? WRITTEN_ELSEWHERE[field.name] : undefined;
      if (skipped !== undefined) {
        members.push(`  // ${path}.${field.name}: ${skipped}.\n`);
        continue;
      }
      if (field.required && scalarType(field.shape) !== undefined) continue; // a parameter of the opening call
      let member = memberName(field.name);
      for (let i = 2; used.has(member); i++) member = `${memberName(field.name)}${i}`;
      used.add(member);
      members.push(this.writerMember(field, `${path}.${field.name}`, `${base}${pascal(field.name)}`, member, name));
    }
    const open = shape.type === 'raw' ? ['The schema keeps this object open: write it through `w`.'] : [];
    this.add(
      `${doc([d.description ?? `${path}, written.`, ...open], '')}export class ${name} {\n` +
        `  constructor(public w: ObjectWriter) {}\n\n${members.join('\n')}}\n`,
    );
    return name;
  }

  /** One method of an object writer (`self` is its class) for `field`. */
  writerMember(field: Field, path: string, base: string, member: string, self: string): string {
    const key = JSON.stringify(field.name);
    const shape = field.shape;
    const enumClass = this.enumClass(path, base, shape);
    const comment = doc([field.description, ...fieldNotes(field, enumClass)], '  ');
    const scalar = scalarType(shape);
    if (scalar !== undefined) {
      const { method, arg } = writeScalar(shape, 'value');
      return (
        `${comment}  ${member}(value: ${scalar}): ${self} {\n    this.w.${method}(${key}, ${arg});\n` +
        `    return this;\n  }\n`
      );
    }
    switch (shape.type) {
      case 'object': {
        const child = this.objectWriter(field, path, base, false);
        const params = this.requiredScalars(shape);
        return (
          `${comment}  ${member}(${params.map((p) => `${p.param}: ${p.type}`).join(', ')}): ${child} {\n` +
          `    const o = new ${child}(this.w.obj(${key}));\n${this.writeRequired(shape, 'o.w', '    ')}    return o;\n  }\n`
        );
      }
      case 'array': {
        const child = this.arrayWriter(field, path, base);
        return `${comment}  ${member}(): ${child} {\n    return new ${child}(this.w.arr(${key}));\n  }\n`;
      }
      case 'map': {
        const child = this.mapWriter(field, path, base);
        return `${comment}  ${member}(): ${child} {\n    return new ${child}(this.w.obj(${key}));\n  }\n`;
      }
      default:
        return (
          `${comment}  ${member}(value: JsonValue): ${self} {\n    this.w.value(${key}, value);\n    return this;\n  }\n\n` +
          `  /** ${path} as JSON text (trusted to be valid JSON). */\n` +
          `  ${member}Json(json: string): ${self} {\n    this.w.rawJson(${key}, json);\n    return this;\n  }\n`
        );
    }
  }

  arrayWriter(d: Described, path: string, base: string): string {
    const items = (d.shape as Extract<Shape, { type: 'array' }>).items;
    const name = this.name(`${base}ListWriter`);
    this.imports.add('ArrayWriter');
    const scalar = scalarType(items.shape);
    let add: string;
    if (scalar !== undefined) {
      const { method, arg } = writeScalar(items.shape, 'value');
      add = `  add(value: ${scalar}): ${name} {\n    this.w.${method}(${arg});\n    return this;\n  }\n`;
    } else if (items.shape.type === 'object') {
      const child = this.objectWriter(items, `${path}[]`, `${base}Item`, false);
      const params = this.requiredScalars(items.shape);
      add =
        `  add(${params.map((p) => `${p.param}: ${p.type}`).join(', ')}): ${child} {\n` +
        `    const o = new ${child}(this.w.obj());\n${this.writeRequired(items.shape, 'o.w', '    ')}    return o;\n  }\n`;
    } else if (items.shape.type === 'array') {
      const child = this.arrayWriter(items, `${path}[]`, `${base}Item`);
      add = `  add(): ${child} {\n    return new ${child}(this.w.arr());\n  }\n`;
    } else if (items.shape.type === 'map') {
      const child = this.mapWriter(items, `${path}[]`, `${base}Item`);
      add = `  add(): ${child} {\n    return new ${child}(this.w.obj());\n  }\n`;
    } else {
      add = `  add(value: JsonValue): ${name} {\n    this.w.value(value);\n    return this;\n  }\n`;
    }
    this.add(
      `${doc([`${path}, written one element at a time.`], '')}export class ${name} {\n` +
        `  constructor(public w: ArrayWriter) {}\n\n${add}}\n`,
    );
    return name;
  }

  mapWriter(d: Described, path: string, base: string): string {
    const values = (d.shape as Extract<Shape, { type: 'map' }>).values;
    const name = this.name(`${base}MapWriter`);
    this.imports.add('ObjectWriter');
    const scalar = scalarType(values.shape);
    let set: string;
    if (scalar !== undefined) {
      const { method, arg } = writeScalar(values.shape, 'value');
      set = `  set(key: string, value: ${scalar}): ${name} {\n    this.w.${method}(key, ${arg});\n    return this;\n  }\n`;
    } else if (values.shape.type === 'object') {
      const child = this.objectWriter(values, `${path}[*]`, `${base}Value`, false);
      const params = this.requiredScalars(values.shape);
      set =
        `  set(${['key: string', ...params.map((p) => `${p.param}: ${p.type}`)].join(', ')}): ${child} {\n` +
        `    const o = new ${child}(this.w.obj(key));\n${this.writeRequired(values.shape, 'o.w', '    ')}    return o;\n  }\n`;
    } else if (values.shape.type === 'array') {
      const child = this.arrayWriter(values, `${path}[*]`, `${base}Value`);
      set = `  set(key: string): ${child} {\n    return new ${child}(this.w.arr(key));\n  }\n`;
    } else if (values.shape.type === 'map') {
      const child = this.mapWriter(values, `${path}[*]`, `${base}Value`);
      set = `  set(key: string): ${child} {\n    return new ${child}(this.w.obj(key));\n  }\n`;
    } else {
      set = `  set(key: string, value: JsonValue): ${name} {\n    this.w.value(key, value);\n    return this;\n  }\n`;
    }
    this.add(
      `${doc([`${path}, written one entry at a time.`], '')}export class ${name} {\n` +
        `  constructor(public w: ObjectWriter) {}\n\n${set}}\n`,
    );
    return name;
  }
}

/** The text of `assembly/types.ts` for a primary kind. */
export function assemblyScriptTypes(input: TypesInput): string {
  const e = new Emitter();
  const constant = constantName(input.kind);
  e.imports.add('Kind');
  const notes: string[] = [];
  if (input.spec !== undefined) e.objectReader(input.spec, 'spec', `${input.kind}Spec`, { from: 'spec' });
  else notes.push(`// The schema declares no spec: ${input.kind} has no spec reader.\n`);
  if (input.status !== undefined) {
    e.objectReader(input.status, 'status', `${input.kind}Status`, { from: 'status' });
    e.objectWriter(input.status, 'status', `${input.kind}Status`, true);
  } else {
    notes.push(`// The schema declares no status: ${input.kind} has no status reader or writer.\n`);
  }
  const header =
    `// Generated by \`wasm-reconciler generate\` from ${input.source} (${input.kind}, ${input.apiVersion}). Do not\n` +
    `// edit: change the CRD and run \`npm run generate\` again.\n\n`;
  const imports = `import { ${[...e.imports].sort().join(', ')} } from "${SDK}";\n\n`;
  const kind = `/** The primary kind, for ctx.childrenOf / cache.getOf / out.childOf. */\nexport const ${constant} = new Kind(${literal(input.apiVersion)}, ${literal(input.kind)});\n`;
  return [header + imports + kind, ...notes, ...e.blocks].join('\n');
}
