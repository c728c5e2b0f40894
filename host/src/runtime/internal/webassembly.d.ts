// The JS API of WebAssembly that the runtime uses: @types/node does not declare it, and lib "DOM" would
// bring a browser's globals into a server program.

declare namespace WebAssembly {
  type BufferSource = ArrayBufferView<ArrayBuffer> | ArrayBuffer;
  type ImportValue = ExportValue | number;
  type ModuleImports = Record<string, ImportValue>;
  type Imports = Record<string, ModuleImports>;
  type ExportValue = ((...args: never[]) => unknown) | Global | Memory | Table;
  type Exports = Record<string, ExportValue>;
  type ValueType = 'i32' | 'i64' | 'f32' | 'f64' | 'externref' | 'anyfunc';
  type ImportExportKind = 'function' | 'global' | 'memory' | 'table';

  type Module = object;
  var Module: {
    prototype: Module;
    new (bytes: BufferSource): Module;
    exports(module: Module): { kind: ImportExportKind; name: string }[];
    imports(module: Module): { kind: ImportExportKind; module: string; name: string }[];
  };

  interface Instance {
    readonly exports: Exports;
  }
  var Instance: { prototype: Instance; new (module: Module, imports?: Imports): Instance };

  interface Memory {
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  var Memory: {
    prototype: Memory;
    new (descriptor: { initial: number; maximum?: number; shared?: boolean }): Memory;
  };

  interface Global {
    value: unknown;
    valueOf(): unknown;
  }
  var Global: {
    prototype: Global;
    new (descriptor: { value: ValueType; mutable?: boolean }, value?: unknown): Global;
  };

  interface Table {
    readonly length: number;
  }
  var Table: { prototype: Table };

  interface CompileError extends Error {}
  var CompileError: { prototype: CompileError; new (message?: string): CompileError };
  interface LinkError extends Error {}
  var LinkError: { prototype: LinkError; new (message?: string): LinkError };
  interface RuntimeError extends Error {}
  var RuntimeError: { prototype: RuntimeError; new (message?: string): RuntimeError };

  /** A Wasm exception (`throw`) that escaped to JavaScript. */
  interface Exception {
    is(tag: object): boolean;
  }
  var Exception: { prototype: Exception; new (tag: object, payload: unknown[]): Exception };

  function compile(bytes: BufferSource): Promise<Module>;
  function instantiate(module: Module, imports?: Imports): Promise<Instance>;
  function validate(bytes: BufferSource): boolean;
}
