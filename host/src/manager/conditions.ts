// metav1.Condition upkeep: lastTransitionTime moves only when a condition's status changes.

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number | undefined;
  lastTransitionTime?: string;
}

/** Returns a new list with `next` set; an unchanged status keeps its transition time, so status stays stable. */
export function setCondition(
  conditions: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime'>,
  now: () => Date = () => new Date(),
): Condition[] {
  const existing = conditions.find((c) => c.type === next.type);
  const lastTransitionTime =
    existing?.status === next.status && existing.lastTransitionTime !== undefined
      ? existing.lastTransitionTime
      : now()
          .toISOString()
          .replace(/\.\d{3}Z$/, 'Z');
  const updated: Condition = { ...next, lastTransitionTime };
  if (updated.observedGeneration === undefined) delete updated.observedGeneration;
  return [...conditions.filter((c) => c.type !== next.type), updated].sort((a, b) => a.type.localeCompare(b.type));
}
