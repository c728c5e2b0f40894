// Kubernetes timestamps (metav1.Time, metav1.MicroTime) written from epoch milliseconds by arithmetic.
//
// Why not Date.prototype.toISOString: V8's first call of it sets up its date cache, which loads ICU's time
// zone data even though the result is UTC: the ICU code and data pages it touches are ~0.9 MiB of RSS (a
// bare node: 41.8 -> 42.7 MiB) in a host that otherwise never touches ICU (see also manager/conditions.ts).

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);

const MS_PER_DAY = 86_400_000;

/** The UTC calendar date of a day count from 1970-01-01 (H. Hinnant's civil_from_days). */
function civil(days: number): [year: number, month: number, day: number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1_460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

/** `YYYY-MM-DDTHH:MM:SS` and the milliseconds; outside years 0-9999, undefined (toISOString's wider form). */
function parts(ms: number): { text: string; millis: number } | undefined {
  if (!Number.isFinite(ms)) throw new RangeError('Invalid time value');
  const t = Math.trunc(ms);
  const days = Math.floor(t / MS_PER_DAY);
  const inDay = t - days * MS_PER_DAY;
  const [year, month, day] = civil(days);
  if (year < 0 || year > 9_999) return undefined;
  const s = Math.floor(inDay / 1000);
  const clock = `${pad2(Math.floor(s / 3600))}:${pad2(Math.floor(s / 60) % 60)}:${pad2(s % 60)}`;
  return { text: `${String(year).padStart(4, '0')}-${pad2(month)}-${pad2(day)}T${clock}`, millis: inDay % 1000 };
}

/** What `new Date(ms).toISOString()` returns: `2026-01-02T03:04:05.678Z`. */
export function isoTime(ms: number): string {
  const p = parts(ms);
  return p === undefined ? new Date(ms).toISOString() : `${p.text}.${String(p.millis).padStart(3, '0')}Z`;
}

/** metav1.Time: RFC 3339 in whole seconds, `2026-01-02T03:04:05Z` (milliseconds dropped, not rounded). */
export function kubeTime(ms: number): string {
  const p = parts(ms);
  return p === undefined ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : `${p.text}Z`;
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits, `2026-01-02T03:04:05.678000Z`. */
export function kubeMicroTime(ms: number): string {
  const p = parts(ms);
  return p === undefined
    ? new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
    : `${p.text}.${String(p.millis).padStart(3, '0')}000Z`;
}
