/** SIP request authentication for the media pod: IP ACLs, digest proxy auth and brute-force lockout. */
export { IpAclMatcher, InvalidAclEntryError } from './ipAcl.js';
export { parseIp, formatIp, canonicalIp, type ParsedIp } from './ipAddress.js';
export {
  DigestAuthenticator, computeDigestResponse, computeHa1,
  type DigestAlgorithm, type DigestFailureCause, type DigestVerifyResult, type DigestVerifyInput, type DigestAuthenticatorOptions,
} from './digest.js';
export { LockoutTable, type LockoutOptions, type LockoutStats } from './lockout.js';
