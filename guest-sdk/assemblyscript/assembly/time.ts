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
  if (year < 0 || year > 9999) {
    return (
      pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" +
      pad(rem / 3600, 2) + ":" + pad((rem / 60) % 60, 2) + ":" + pad(rem % 60, 2) + "Z"
    );
  }
  // The common case is fixed-width: one string, filled in place.
  // @ts-ignore: a runtime builtin asc provides, which AssemblyScript's editor declarations leave out
  const out = changetype<string>(__new(20 << 1, idof<string>()));
  const p = changetype<usize>(out);
  putDigits(p, 0, year, 4);
  store<u16>(p + (4 << 1), 0x2d);
  putDigits(p, 5, month, 2);
  store<u16>(p + (7 << 1), 0x2d);
  putDigits(p, 8, day, 2);
  store<u16>(p + (10 << 1), 0x54);
  putDigits(p, 11, rem / 3600, 2);
  store<u16>(p + (13 << 1), 0x3a);
  putDigits(p, 14, (rem / 60) % 60, 2);
  store<u16>(p + (16 << 1), 0x3a);
  putDigits(p, 17, rem % 60, 2);
  store<u16>(p + (19 << 1), 0x5a);
  return out;
}

/** Writes `v` (0 <= v < 10^width) as `width` zero-padded decimal UTF-16 digits at character `at`. */
function putDigits(p: usize, at: i32, v: i64, width: i32): void {
  for (let i = width - 1; i >= 0; i--) {
    store<u16>(p + (<usize>(at + i) << 1), <u16>(0x30 + v % 10));
    v /= 10;
  }
}

function pad(v: i64, width: i32): string {
  return v.toString().padStart(width, "0");
}
