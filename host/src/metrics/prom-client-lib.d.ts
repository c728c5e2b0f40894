// prom-client ships types for its index only; prom.ts imports its files one by one and gives each the
// index's type for it.
declare module 'prom-client/lib/*' {
  const value: unknown;
  export default value;
}
