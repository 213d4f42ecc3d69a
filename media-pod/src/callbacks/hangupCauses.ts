/**
 * Plivo's hangup cause codes as sent to hangup_url (HangupCauseCode / HangupCauseName), plus
 * the SIP-level `HangupCause` string for each. Codes ≥ 9000 are sipflow extensions, chosen
 * outside Plivo's documented ranges so they cannot collide with a real Plivo code.
 */

export interface HangupCause {
  code: number;
  name: string;
  /** Legacy `HangupCause` value (FreeSWITCH/Q.850 style), e.g. NORMAL_CLEARING. */
  cause: string;
  /** True when sipflow defines it (not from Plivo's table). */
  extension?: true;
}

function c(code: number, name: string, cause: string, extension?: true): HangupCause {
  return extension ? { code, name, cause, extension } : { code, name, cause };
}

export const HANGUP_CAUSES = {
  CANCELED: c(1000, 'Canceled', 'ORIGINATOR_CANCEL'),
  NO_ANSWER: c(3000, 'No Answer', 'NO_ANSWER'),
  BUSY_LINE: c(3010, 'Busy Line', 'USER_BUSY'),
  REJECTED: c(3020, 'Rejected', 'CALL_REJECTED'),
  NORMAL_HANGUP: c(4000, 'Normal Hangup', 'NORMAL_CLEARING'),
  END_OF_XML: c(4010, 'End Of XML Instructions', 'NORMAL_CLEARING'),
  INTERNAL_ERROR: c(5010, 'Internal Error', 'NORMAL_TEMPORARY_FAILURE'),
  SCHEDULED_HANGUP: c(6000, 'Scheduled Hangup', 'ALLOTTED_TIMEOUT'),
  MEDIA_TIMEOUT: c(6020, 'Media Timeout', 'MEDIA_TIMEOUT'),
  ANSWER_URL_UNREACHABLE: c(7011, 'Error Reaching Answer URL', 'NORMAL_TEMPORARY_FAILURE'),
  INVALID_ANSWER_XML: c(8011, 'Invalid Answer XML', 'NORMAL_TEMPORARY_FAILURE'),
  INVALID_ACTION_XML: c(8012, 'Invalid Action XML', 'NORMAL_TEMPORARY_FAILURE'),
  INVALID_REDIRECT_XML: c(8014, 'Invalid Redirect XML', 'NORMAL_TEMPORARY_FAILURE'),
  /** sipflow: the XML used a verb this server does not implement yet. */
  VERB_NOT_SUPPORTED: c(9010, 'Verb Not Supported', 'SERVICE_NOT_IMPLEMENTED', true),
  /** sipflow: the pod's shutdown grace period ran out while the call was up. */
  SERVER_SHUTTING_DOWN: c(9020, 'Server Shutting Down', 'SYSTEM_SHUTDOWN', true),
  /** sipflow: the stream's WebSocket could not be opened. */
  STREAM_CONNECT_FAILED: c(9030, 'Stream Connection Failed', 'NORMAL_TEMPORARY_FAILURE', true),
  /** sipflow: the caller never acknowledged our 200 OK (no ACK within 64*T1). */
  ACK_TIMEOUT: c(9040, 'Call Not Acknowledged', 'RECOVERY_ON_TIMER_EXPIRE', true),
  /** sipflow: an INVITE without SDP got our offer in the 200 OK, and the ACK brought no usable answer. */
  NO_SDP_ANSWER: c(9050, 'No Usable SDP Answer', 'INCOMPATIBLE_DESTINATION', true),
  /** sipflow: the SIP session timer (RFC 4028) ran out: no refresh came, or ours was refused with 408/481. */
  SESSION_TIMER_EXPIRED: c(9060, 'Session Timer Expired', 'RECOVERY_ON_TIMER_EXPIRE', true),
  /** sipflow: the call reached the pod's --max-call-duration (a cap on runaway calls and agent sessions). */
  MAX_CALL_DURATION: c(9070, 'Max Call Duration Reached', 'ALLOTTED_TIMEOUT', true),
} as const satisfies Record<string, HangupCause>;

export type HangupCauseKey = keyof typeof HANGUP_CAUSES;

const BY_CODE = new Map<number, HangupCause>(Object.values(HANGUP_CAUSES).map((h) => [h.code, h]));

export function hangupCauseByCode(code: number): HangupCause | undefined {
  return BY_CODE.get(code);
}

/** Plivo's HangupSource values. */
export type HangupSource = 'Caller' | 'Call recipient' | 'Plivo' | 'Carrier' | 'API Request' | 'Answer XML' | 'Error' | 'Unknown';
