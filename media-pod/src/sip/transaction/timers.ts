/** RFC 3261 §17 timer base values, configurable per layer (tests and lossy links shorten or stretch them). */

export interface TransactionTimers {
  /** RTT estimate; retransmission base and, times 64, transaction timeout. */
  T1: number;
  /** Cap on the retransmission interval for non-INVITE requests and INVITE responses. */
  T2: number;
  /** How long a message may linger in the network. */
  T4: number;
}

export const DEFAULT_TIMERS: Readonly<TransactionTimers> = Object.freeze({ T1: 500, T2: 4000, T4: 5000 });

const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  200: 'OK', 202: 'Accepted', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 407: 'Proxy Authentication Required', 408: 'Request Timeout', 480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist', 486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here',
  500: 'Server Internal Error', 501: 'Not Implemented', 503: 'Service Unavailable', 603: 'Decline',
};

/** The RFC's reason phrase for common status codes. */
export function defaultReason(status: number): string {
  return REASONS[status] ?? (status < 200 ? 'Progress' : status < 300 ? 'OK' : 'Error');
}
