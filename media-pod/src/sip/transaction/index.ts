/** Public surface of the SIP transaction layer. */
export { TransactionLayer, serverTransactionKey, type TransactionLayerOptions, type TransactionLayerEvents, type SendRequestOptions } from './layer.js';
export {
  InviteServerTransaction, NonInviteServerTransaction, type ServerTransaction, type ServerTransactionEvents,
  type InviteServerState, type NonInviteServerState,
} from './server.js';
export { NonInviteClientTransaction, type NonInviteClientState } from './client.js';
export { Reliable2xx, type AckOutcome, type Reliable2xxOptions } from './reliable-2xx.js';
export { SipTransactionTimeoutError, TransactionLimitError } from './errors.js';
export { DEFAULT_TIMERS, defaultReason, type TransactionTimers } from './timers.js';
