// Wall-clock time from the host, formatted as RFC 3339 the way metav1.Time serialises it.

import { host_now_ms } from "./abi";

/** Milliseconds since the Unix epoch, from the host's clock. */
export function nowMs(): f64 {
  return host_now_ms();
}

/** "2006-01-02T15:04:05Z": UTC, whole seconds (metav1.Time drops sub-second precision). */
export function formatRfc3339(ms: f64): string {
  const seconds = <i64>Math.floor(ms / 1000);
  let days = seconds / 86400;
  let rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    days--;
  }
  // Civil-from-days (Howard Hinnant): exact for the proleptic Gregorian calendar.
  const z = days + 719468;
  const era = (z >= 0 ? z : z - 146096) / 146097;
  const doe = z - era * 146097;
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  const day = doy - (153 * mp + 2) / 5 + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return (
    pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" +
    pad(rem / 3600, 2) + ":" + pad((rem / 60) % 60, 2) + ":" + pad(rem % 60, 2) + "Z"
  );
}

function pad(v: i64, width: i32): string {
  return v.toString().padStart(width, "0");
}
