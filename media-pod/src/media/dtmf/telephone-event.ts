/**
 * RFC 4733 telephone-event payloads for DTMF: encoding, decoding, and a receiver that reports
 * each key press once although the sender repeats every event (continuations, three end
 * packets, retransmissions), all sharing the event's RTP timestamp.
 */

export const DTMF_DIGITS = '0123456789*#ABCD';

/** Event code (0–15) for a DTMF digit, case-insensitive; undefined if not a DTMF digit. */
export function dtmfEventCode(digit: string): number | undefined {
  if (digit.length !== 1) return undefined;
  const i = DTMF_DIGITS.indexOf(digit.toUpperCase());
  return i >= 0 ? i : undefined;
}

/** DTMF digit for an event code, or undefined for 16+ (flash and other non-DTMF events). */
export function dtmfDigit(event: number): string | undefined {
  return event >= 0 && event < 16 ? DTMF_DIGITS[event] : undefined;
}

export interface TelephoneEvent {
  event: number;
  end: boolean;
  /** 0–63, in −dBm0 (so 10 means −10 dBm0). */
  volume: number;
  /** In timestamp units (1/8000 s for an 8 kHz clock) since the event's timestamp. */
  duration: number;
}

export const TELEPHONE_EVENT_SIZE = 4;

/** Decodes the first (and normally only) event of a payload; null if the payload is too short. */
export function decodeTelephoneEvent(payload: Uint8Array, into?: TelephoneEvent): TelephoneEvent | null {
  if (payload.length < TELEPHONE_EVENT_SIZE) return null;
  const ev = into ?? { event: 0, end: false, volume: 0, duration: 0 };
  ev.event = payload[0]!;
  ev.end = (payload[1]! & 0x80) !== 0;
  ev.volume = payload[1]! & 0x3f;
  ev.duration = (payload[2]! << 8) | payload[3]!;
  return ev;
}

/** Writes the 4-byte payload at `offset` of `out` (or a new buffer). */
export function encodeTelephoneEvent(ev: TelephoneEvent, out: Uint8Array = new Uint8Array(TELEPHONE_EVENT_SIZE), offset = 0): Uint8Array {
  const d = Math.min(0xffff, Math.max(0, ev.duration | 0));
  out[offset] = ev.event & 0xff;
  out[offset + 1] = (ev.end ? 0x80 : 0) | (ev.volume & 0x3f);
  out[offset + 2] = d >> 8;
  out[offset + 3] = d & 0xff;
  return out;
}

/**
 * Turns a stream of telephone-event packets into key presses. A press is reported at the first
 * packet seen for it (start, continuation or end — whichever survives the network), keyed by
 * RTP timestamp and event code; a few recent keys are remembered so that stragglers of an
 * earlier event arriving late are not reported again.
 */
export class DtmfReceiver {
  private static readonly HISTORY = 4;
  private readonly seenTs = new Float64Array(DtmfReceiver.HISTORY).fill(-1);
  private readonly seenEvent = new Int16Array(DtmfReceiver.HISTORY).fill(-1);
  private next = 0;
  private readonly scratch: TelephoneEvent = { event: 0, end: false, volume: 0, duration: 0 };

  /** Returns the digit when this packet starts a new press, otherwise null. */
  receive(timestamp: number, payload: Uint8Array): string | null {
    const ev = decodeTelephoneEvent(payload, this.scratch);
    if (!ev) return null;
    for (let i = 0; i < DtmfReceiver.HISTORY; i++) {
      if (this.seenTs[i] === timestamp && this.seenEvent[i] === ev.event) return null;
    }
    this.seenTs[this.next] = timestamp;
    this.seenEvent[this.next] = ev.event;
    this.next = (this.next + 1) % DtmfReceiver.HISTORY;
    return dtmfDigit(ev.event) ?? null;
  }

  reset(): void {
    this.seenTs.fill(-1);
    this.seenEvent.fill(-1);
  }
}
