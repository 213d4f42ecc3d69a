/**
 * Internal control flow for the XML parser: validation code throws a PlivoXmlFailure at the first
 * problem and parsePlivoXml turns it into the `{ ok: false, error }` result callers see.
 */

import type { PlivoXmlError, PlivoXmlErrorCode } from './types.js';

export class PlivoXmlFailure extends Error {
  readonly detail: PlivoXmlError;

  constructor(code: PlivoXmlErrorCode, what: string, where: { line: number; column?: number; element?: string }) {
    const message = `line ${where.line}: ${what}`;
    super(message);
    this.name = 'PlivoXmlFailure';
    this.detail = {
      message,
      line: where.line,
      code,
      ...(where.column !== undefined ? { column: where.column } : {}),
      ...(where.element !== undefined ? { element: where.element } : {}),
    };
  }
}

const MAX_QUOTED = 80;

/** Quotes a user-supplied value for an error message, bounded so a 90 KB attribute stays out of logs. */
export function quoteValue(value: string): string {
  const cut = value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}…` : value;
  const json = JSON.stringify(cut);
  return value.length > MAX_QUOTED ? `${json} (${value.length} chars)` : json;
}
