/**
 * The SRTP crypto suites sipflow speaks (RFC 4568 §6.2, RFC 6188 §7): AES counter mode with
 * HMAC-SHA1, 128- or 256-bit keys, an 80- or 32-bit SRTP tag. Everything size-related about a
 * suite lives in this one table so the KDF, the packet code and the SDES parser cannot disagree.
 */

export type SrtpSuite =
  | 'AES_CM_128_HMAC_SHA1_80'
  | 'AES_CM_128_HMAC_SHA1_32'
  | 'AES_256_CM_HMAC_SHA1_80'
  | 'AES_256_CM_HMAC_SHA1_32';

export interface SrtpSuiteInfo {
  /** Master (and session) encryption key length in bytes. */
  keyLength: 16 | 32;
  /** Master and session salt length in bytes (112 bits for every AES-CM suite). */
  saltLength: 14;
  /** Session authentication key length in bytes (160 bits, HMAC-SHA1). */
  authKeyLength: 20;
  /** SRTP tag length in bytes. */
  rtpTagLength: 10 | 4;
  /** SRTCP tag length in bytes: always 80 bits, the _32 suites shorten only SRTP (RFC 4568 §6.2.2). */
  rtcpTagLength: 10;
  /** Node's name for the block cipher in ECB mode, which the counter mode is built on. */
  ecbCipher: 'aes-128-ecb' | 'aes-256-ecb';
}

const SUITES: Readonly<Record<SrtpSuite, SrtpSuiteInfo>> = {
  AES_CM_128_HMAC_SHA1_80: { keyLength: 16, saltLength: 14, authKeyLength: 20, rtpTagLength: 10, rtcpTagLength: 10, ecbCipher: 'aes-128-ecb' },
  AES_CM_128_HMAC_SHA1_32: { keyLength: 16, saltLength: 14, authKeyLength: 20, rtpTagLength: 4, rtcpTagLength: 10, ecbCipher: 'aes-128-ecb' },
  AES_256_CM_HMAC_SHA1_80: { keyLength: 32, saltLength: 14, authKeyLength: 20, rtpTagLength: 10, rtcpTagLength: 10, ecbCipher: 'aes-256-ecb' },
  AES_256_CM_HMAC_SHA1_32: { keyLength: 32, saltLength: 14, authKeyLength: 20, rtpTagLength: 4, rtcpTagLength: 10, ecbCipher: 'aes-256-ecb' },
};

/** Suites in our order of preference, for offers. */
export const SRTP_SUITES: readonly SrtpSuite[] = [
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
  'AES_256_CM_HMAC_SHA1_80',
  'AES_256_CM_HMAC_SHA1_32',
];

export function isSrtpSuite(name: string): name is SrtpSuite {
  return Object.prototype.hasOwnProperty.call(SUITES, name);
}

export function suiteInfo(suite: SrtpSuite): SrtpSuiteInfo {
  return SUITES[suite];
}
