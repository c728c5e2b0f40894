// Maps an API server answer (HTTP status plus its Status object) or a transport failure to a typed WrError.

import { type ErrorCode, WrError } from '../../errors.ts';

/** The fields of a metav1.Status the host reads; everything else is ignored. */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: Array<{ reason?: string; message?: string; field?: string }> };
}

export interface RequestContext {
  readonly method: string;
  readonly path: string;
}

/** Caps how much of an untrusted server message travels into errors and logs. */
const MAX_MESSAGE_CHARS = 1024;
const MAX_CAUSES = 10;
/** Retry-After beyond this is clamped: a server asking for hours would park a controller silently. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

export function codeForStatus(status: number): ErrorCode {
  if (status === 409) return 'WR_KUBE_CONFLICT';
  if (status === 410) return 'WR_KUBE_GONE';
  if (status === 403) return 'WR_KUBE_FORBIDDEN';
  if (status === 404) return 'WR_KUBE_NOT_FOUND';
  if (status === 400 || status === 422) return 'WR_KUBE_INVALID';
  if (status === 429 || status >= 500) return 'WR_KUBE_UNAVAILABLE';
  return 'WR_KUBE_REQUEST';
}

/** Parses a Retry-After header (delta-seconds or HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  const trimmed = raw.trim();
  let ms: number;
  if (/^\d+$/.test(trimmed)) {
    ms = Number(trimmed) * 1000;
  } else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

export function parseStatus(text: string): KubeStatus | undefined {
  if (text.length === 0 || text[0] !== '{') return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && (parsed as KubeStatus).kind === 'Status') {
      return parsed as KubeStatus;
    }
  } catch {
    // Not JSON: proxies and load balancers answer with HTML or plain text; the status code still speaks.
  }
  return undefined;
}

function clip(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}...` : text;
}

/** Builds the error for a non-2xx answer, carrying the Status reason/message and any Retry-After hint. */
export function errorFromStatus(
  httpStatus: number,
  bodyText: string,
  retryAfter: string | string[] | undefined,
  ctx: RequestContext,
): WrError {
  const status = parseStatus(bodyText);
  return errorFromKubeStatus(httpStatus, status, ctx, {
    fallbackMessage: bodyText,
    retryAfterMs: parseRetryAfter(retryAfter),
  });
}

/** Also used for ERROR events inside a watch stream, which carry a Status object but no HTTP answer. */
export function errorFromKubeStatus(
  httpStatus: number,
  status: KubeStatus | undefined,
  ctx: RequestContext,
  extra: { fallbackMessage?: string; retryAfterMs?: number | undefined } = {},
): WrError {
  const code = codeForStatus(httpStatus);
  const message = clip(status?.message ?? (extra.fallbackMessage?.trim() || `HTTP ${httpStatus}`));
  const details: Record<string, unknown> = { httpStatus, method: ctx.method, path: ctx.path };
  if (status?.reason !== undefined) details.reason = status.reason;
  if (status?.details?.causes !== undefined) {
    details.causes = status.details.causes.slice(0, MAX_CAUSES).map((c) => ({
      reason: c.reason,
      field: c.field,
      message: c.message === undefined ? undefined : clip(c.message),
    }));
  }
  if (extra.retryAfterMs !== undefined) details.retryAfterMs = extra.retryAfterMs;
  return new WrError(code, `${ctx.method} ${ctx.path}: ${message}`, { details });
}

/** Connection refused/reset, TLS failures and timeouts: the server may be back soon. */
export function errorFromTransport(cause: unknown, ctx: RequestContext): WrError {
  if (cause instanceof WrError) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  const errno = (cause as { code?: unknown } | null)?.code;
  return new WrError('WR_KUBE_UNAVAILABLE', `${ctx.method} ${ctx.path}: ${clip(reason)}`, {
    cause,
    details: { method: ctx.method, path: ctx.path, ...(typeof errno === 'string' ? { errno } : {}) },
  });
}

/** Reads `details.retryAfterMs` from an error built here, so retry loops can honour the server's hint. */
export function retryAfterMsOf(err: unknown): number | undefined {
  if (!(err instanceof WrError)) return undefined;
  const value = err.details?.retryAfterMs;
  return typeof value === 'number' ? value : undefined;
}
