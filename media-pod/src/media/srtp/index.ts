/**
 * SRTP/SRTCP packet protection (RFC 3711) and SDES key exchange (RFC 4568) for RTP/SAVP calls:
 * one SrtpSession per direction, keys from generateKeyParams or parseCryptoAttribute.
 */
export {
  estimateIndex, generateKeyParams, SRTCP_MAX_PACKETS, SRTP_MAX_PACKETS, SrtpProtectError, SrtpSession,
  type SrtpFailure, type SrtpKeyParams, type SrtpProtectErrorCode, type SrtpSessionOptions,
} from './context.js';
export {
  formatCryptoAttribute, parseCryptoAttribute, redactCryptoKeys, type CryptoAttribute, type CryptoAttributeError,
} from './sdes.js';
export { isSrtpSuite, SRTP_SUITES, suiteInfo, type SrtpSuite, type SrtpSuiteInfo } from './suite.js';
