/**
 * SRTP session key derivation (RFC 3711 §4.3) with the AES-CM PRF and a key derivation rate of
 * zero, the only rate SDES uses by default and the only one we accept: the six session keys are
 * derived once per master key and never again.
 */
import { AesCounterMode } from './aes-cm.js';
import { suiteInfo, type SrtpSuite } from './suite.js';

/** RFC 3711 §4.3.1 and §4.3.2 labels. */
export const KdfLabel = {
  rtpEncryption: 0x00,
  rtpAuthentication: 0x01,
  rtpSalt: 0x02,
  rtcpEncryption: 0x03,
  rtcpAuthentication: 0x04,
  rtcpSalt: 0x05,
} as const;
export type KdfLabel = (typeof KdfLabel)[keyof typeof KdfLabel];

export interface SessionKeys {
  encryptionKey: Buffer;
  authenticationKey: Buffer;
  salt: Buffer;
}

export interface DerivedKeys {
  rtp: SessionKeys;
  rtcp: SessionKeys;
}

/**
 * PRF_n(k_master, x) with x = (label || r) XOR master_salt and r = 0 (key derivation rate 0):
 * the label lands in the salt's 8th byte, the 48-bit r (zero) in the bytes after it.
 */
export function deriveSessionKey(prf: AesCounterMode, masterSalt: Uint8Array, label: KdfLabel, length: number): Buffer {
  if (masterSalt.length !== 14) throw new RangeError(`master salt must be 14 bytes, got ${masterSalt.length}`);
  const iv = Buffer.alloc(16);
  iv.set(masterSalt, 0);
  iv[7] = (iv[7] as number) ^ label;
  // Copied to its exact length, so the key does not keep the rest of the last keystream block.
  return Buffer.from(prf.keystream(iv, length));
}

export function deriveKeys(suite: SrtpSuite, masterKey: Uint8Array, masterSalt: Uint8Array): DerivedKeys {
  const info = suiteInfo(suite);
  if (masterKey.length !== info.keyLength) throw new RangeError(`${suite} needs a ${info.keyLength}-byte master key, got ${masterKey.length} bytes`);
  const prf = new AesCounterMode(masterKey, info.ecbCipher);
  const derive = (label: KdfLabel, length: number): Buffer => deriveSessionKey(prf, masterSalt, label, length);
  return {
    rtp: {
      encryptionKey: derive(KdfLabel.rtpEncryption, info.keyLength),
      authenticationKey: derive(KdfLabel.rtpAuthentication, info.authKeyLength),
      salt: derive(KdfLabel.rtpSalt, info.saltLength),
    },
    rtcp: {
      encryptionKey: derive(KdfLabel.rtcpEncryption, info.keyLength),
      authenticationKey: derive(KdfLabel.rtcpAuthentication, info.authKeyLength),
      salt: derive(KdfLabel.rtcpSalt, info.saltLength),
    },
  };
}
