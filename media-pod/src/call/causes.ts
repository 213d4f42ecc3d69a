/**
 * Turns a Plivo hangup cause code (callbacks/hangupCauses.ts holds the table) into the cause a
 * call ends with, carrying who ended it and a detail for logs.
 */
import { hangupCauseByCode } from '../callbacks/hangupCauses.js';
import type { HangupCause } from './control.js';

export function causeFor(code: number, source: string, detail?: string): HangupCause {
  const known = hangupCauseByCode(code);
  return {
    code,
    name: known?.name ?? 'Unknown',
    legacy: known?.cause ?? 'NORMAL_UNSPECIFIED',
    source,
    ...(detail ? { detail } : {}),
  };
}
