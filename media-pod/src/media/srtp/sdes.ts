/**
 * SDP security descriptions (RFC 4568): parse and format the value of an `a=crypto` attribute,
 * `<tag> <suite> inline:<base64 key||salt>[|lifetime][|mki:length] [session params]`.
 * A line we cannot honour exactly is refused with an error rather than half-used, so the
 * negotiator can move on to the next offered line; error texts never contain key material.
 */
import type { SrtpKeyParams } from './context.js';
import { isSrtpSuite, suiteInfo } from './suite.js';

export interface CryptoAttribute {
  tag: number;
  /** The suite as offered, e.g. `AES_CM_128_HMAC_SHA1_80`. */
  suite: string;
  /** The keys, or null when the suite is not one we support (the line is otherwise unchecked). */
  params: SrtpKeyParams | null;
  /** Session parameters as written (accepted ones only: WSH, FEC_ORDER, FEC_KEY, `-` optional ones). */
  sessionParams: string[];
  /** Key lifetime in packets, when given (`2^31` or decimal). Informational: see SrtpSessionOptions.packetLimit. */
  lifetime?: number;
}

export interface CryptoAttributeError {
  error: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** RFC 4568 §6.1: an MKI is 1 to 128 bytes long. */
const MAX_MKI_BYTES = 128;

/**
 * Parses an a=crypto value (without the `a=crypto:` prefix). Use the line when the result has
 * non-null `params`; an `error` means malformed or not honourable (several keys, a key
 * derivation rate, UNENCRYPTED_SRTP/SRTCP, UNAUTHENTICATED_SRTP, an unknown mandatory parameter).
 */
export function parseCryptoAttribute(value: string): CryptoAttribute | CryptoAttributeError {
  const fields = value.trim().split(/[ \t]+/);
  const [tagText, suiteText, keyParams, ...sessionParams] = fields;
  if (tagText === undefined || suiteText === undefined || keyParams === undefined) {
    return { error: 'a=crypto needs a tag, a crypto suite and key parameters' };
  }
  if (!/^[0-9]{1,9}$/.test(tagText)) return { error: 'a=crypto tag must be 1 to 9 digits' };
  const tag = Number(tagText);
  const suite = suiteText.toUpperCase();
  if (!/^[A-Z0-9_]+$/.test(suite)) return { error: 'a=crypto suite name has invalid characters' };
  if (!isSrtpSuite(suite)) return { tag, suite: suiteText, params: null, sessionParams };

  const keys = keyParams.split(';');
  if (keys.length !== 1) return { error: `a=crypto tag ${tag}: ${keys.length} master keys offered, only one is supported` };
  const key = keys[0] as string;
  if (!/^inline:/i.test(key)) return { error: `a=crypto tag ${tag}: key method must be inline` };
  const [keySalt, ...extras] = key.slice('inline:'.length).split('|');
  if (keySalt === undefined || extras.length > 2) return { error: `a=crypto tag ${tag}: malformed key parameters` };

  const info = suiteInfo(suite);
  if (keySalt.length % 4 !== 0 || !BASE64.test(keySalt)) return { error: `a=crypto tag ${tag}: key is not valid base64` };
  const material = Buffer.from(keySalt, 'base64');
  if (material.length !== info.keyLength + info.saltLength) {
    return { error: `a=crypto tag ${tag}: ${suite} needs ${info.keyLength + info.saltLength} bytes of key and salt, got ${material.length}` };
  }

  let lifetime: number | undefined;
  let mki: Buffer | undefined;
  for (const [i, extra] of extras.entries()) {
    if (extra.includes(':')) {
      if (i !== extras.length - 1) return { error: `a=crypto tag ${tag}: the MKI must come after the lifetime` };
      const parsed = parseMki(extra);
      if (typeof parsed === 'string') return { error: `a=crypto tag ${tag}: ${parsed}` };
      mki = parsed;
    } else {
      if (i !== 0) return { error: `a=crypto tag ${tag}: malformed key parameters` };
      const parsed = parseLifetime(extra);
      if (parsed === null) return { error: `a=crypto tag ${tag}: invalid key lifetime` };
      lifetime = parsed;
    }
  }

  for (const p of sessionParams) {
    const refusal = refuseSessionParam(p);
    if (refusal) return { error: `a=crypto tag ${tag}: ${refusal}` };
  }

  const params: SrtpKeyParams = {
    suite,
    masterKey: material.subarray(0, info.keyLength),
    masterSalt: material.subarray(info.keyLength),
  };
  if (mki) params.mki = mki;
  const attr: CryptoAttribute = { tag, suite: suiteText, params, sessionParams };
  if (lifetime !== undefined) attr.lifetime = lifetime;
  return attr;
}

/** `<tag> <suite> inline:<base64 key||salt>[|mki:length]`, the value for an a=crypto line we send. */
export function formatCryptoAttribute(tag: number, params: SrtpKeyParams): string {
  if (!Number.isInteger(tag) || tag < 0 || tag > 999_999_999) throw new RangeError(`a=crypto tag must be 0..999999999, got ${tag}`);
  const info = suiteInfo(params.suite);
  if (params.masterKey.length !== info.keyLength || params.masterSalt.length !== info.saltLength) {
    throw new RangeError(`${params.suite} key parameters have the wrong length`);
  }
  const inline = Buffer.concat([params.masterKey, params.masterSalt]).toString('base64');
  const mki = params.mki ? `|${BigInt('0x' + params.mki.toString('hex')).toString()}:${params.mki.length}` : '';
  return `${tag} ${params.suite} inline:${inline}${mki}`;
}

/** Replaces the key material of every `inline:` in a text (an SDP body, a log line) with a marker. */
export function redactCryptoKeys(text: string): string {
  return text.replace(/inline:[^|\s;]*/gi, 'inline:[redacted]');
}

/** `2^n` or a decimal count; at most 2^48 (RFC 3711's SRTP limit), at least 1. */
function parseLifetime(text: string): number | null {
  let n: number;
  const power = /^2\^([0-9]{1,2})$/.exec(text);
  if (power) n = 2 ** Number(power[1]);
  else if (/^[0-9]{1,15}$/.test(text)) n = Number(text);
  else return null;
  return n >= 1 && n <= 2 ** 48 ? n : null;
}

function parseMki(text: string): Buffer | string {
  const m = /^([0-9]{1,40}):([0-9]{1,3})$/.exec(text);
  if (!m) return 'malformed MKI';
  const length = Number(m[2]);
  if (length < 1 || length > MAX_MKI_BYTES) return `MKI length ${length} is not 1 to ${MAX_MKI_BYTES}`;
  const value = BigInt(m[1] as string);
  if (value >= 1n << BigInt(8 * length)) return `MKI value does not fit in ${length} bytes`;
  const hex = value.toString(16).padStart(length * 2, '0');
  return Buffer.from(hex, 'hex');
}

/** Why a session parameter makes the line unusable, or null when we can honour it. */
function refuseSessionParam(p: string): string | null {
  const name = p.split('=', 1)[0]?.toUpperCase() ?? '';
  switch (name) {
    // SDES writes the rate as a power of two (RFC 4568 §6.3.1), so any KDR asks for re-keying
    // during the call, which we do not do; deriving once regardless would decrypt garbage.
    case 'KDR': return 'a key derivation rate (KDR) is not supported';
    case 'UNENCRYPTED_SRTP':
    case 'UNENCRYPTED_SRTCP':
    case 'UNAUTHENTICATED_SRTP':
      return `${name} is not supported: media is always encrypted and authenticated`;
    case 'WSH': // a replay window hint: ours is at least the 64 it may ask for
    case 'FEC_ORDER': // FEC is not used, so its order and keys do not matter
    case 'FEC_KEY':
      return null;
    default:
      // RFC 4568 §6.3.7: unknown parameters are mandatory unless they start with '-'.
      if (p.startsWith('-')) return null;
      return `unknown mandatory session parameter ${name.slice(0, 32)}`;
  }
}
