// What a guest call's status and output text stand for: the validated output, or the failure they report.
//
// Shared by the two threads a call touches: the guest worker checks what needs no parse (the status, that
// there is an output) and the main thread, which needs the parsed output anyway, parses and validates it
// once, so no output is parsed twice.

import { GUEST_STATUS } from '../../abi/constants.ts';
import type { ReconcileOutput } from '../../abi/types.ts';
import { validateReconcileOutput } from '../../abi/validate.ts';
import { WrError } from '../../errors.ts';
import type { RuntimeLimits } from '../limits.ts';

/** The guest's own explanation of a failure, when it set an output shaped like {"error":{"message":...}}. */
export function guestMessage(output: string | undefined): string | undefined {
  if (output === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(output);
    const error = (parsed as { error?: { message?: unknown } } | null)?.error;
    return typeof error?.message === 'string' ? error.message.slice(0, 4096) : undefined;
  } catch {
    return undefined;
  }
}

/** The output text of a call that returned `status`, or the failure that status and output stand for. */
export function checkedStatus(status: number, output: string | undefined): string {
  if (status === GUEST_STATUS.BAD_INPUT) {
    const message = guestMessage(output);
    throw new WrError(
      'WR_GUEST_ERROR_TERMINAL',
      `the guest could not decode its input${message ? `: ${message}` : ''}`,
      {
        details: { status, ...(message ? { guestMessage: message } : {}) },
      },
    );
  }
  if (status !== GUEST_STATUS.OK && status !== GUEST_STATUS.ERROR) {
    throw new WrError('WR_GUEST_OUTPUT_INVALID', `the guest returned unknown status ${status}`, {
      details: { status, path: '$' },
    });
  }
  if (output === undefined) {
    throw new WrError('WR_GUEST_OUTPUT_INVALID', 'the guest returned without calling set_output', {
      details: { status, path: '$' },
    });
  }
  return output;
}

/**
 * The validated output of a call that returned `status` (OK or ERROR) with `output` as its JSON text. The
 * result is exactly the parse of `output` (validation rejects what it does not keep), so a thread that
 * receives the text and parses it here has nothing to trust but this check.
 */
export function parseGuestOutput(status: number, output: string, limits: RuntimeLimits): ReconcileOutput {
  let json: unknown;
  try {
    json = JSON.parse(output);
  } catch (cause) {
    throw new WrError('WR_GUEST_OUTPUT_INVALID', 'the guest output is not JSON', { cause, details: { path: '$' } });
  }
  const result = validateReconcileOutput(json, limits.output);
  if ((status === GUEST_STATUS.ERROR) !== (result.error !== undefined)) {
    throw new WrError(
      'WR_GUEST_OUTPUT_INVALID',
      status === GUEST_STATUS.ERROR
        ? 'the guest returned status ERROR without output.error'
        : 'the guest returned status OK with output.error',
      { details: { status, path: '$.error' } },
    );
  }
  return result;
}
