/** Typed failures of client transactions, so callers can tell a timeout from a transport failure. */
import type { SipDestination } from '../transport/index.js';

/** Timer F fired: no final response within 64*T1. */
export class SipTransactionTimeoutError extends Error {
  override readonly name = 'SipTransactionTimeoutError';
  constructor(readonly method: string, readonly dest: SipDestination, readonly afterMs: number) {
    super(`${method} to ${dest.transport}:${dest.address}:${dest.port} got no final response within ${afterMs} ms`);
  }
}

/** The layer already holds its maximum number of live transactions. */
export class TransactionLimitError extends Error {
  override readonly name = 'TransactionLimitError';
  constructor(readonly limit: number) {
    super(`transaction limit of ${limit} reached`);
  }
}
