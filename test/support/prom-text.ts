// Reading one sample out of a Prometheus text exposition (a host's /metrics or its registry's text).

/** The value of the sample of `name` carrying every given label; undefined when there is none. */
export function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}
