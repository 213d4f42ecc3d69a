#!/usr/bin/env node
// Per-packet cost of the media pod's SRTP (AES_CM_128_HMAC_SHA1_80) on a 172-byte RTP packet,
// protect and unprotect in a loop on one core. Needs `npx tsc -b` first.
// usage: node bench/srtp-micro.mjs [packets]   (default 200000)
import { generateKeyParams, SrtpSession } from '../media-pod/dist/media/srtp/index.js';

const n = Number(process.argv[2] ?? 200_000);
const key = generateKeyParams('AES_CM_128_HMAC_SHA1_80');
const packet = Buffer.alloc(172);
packet[0] = 0x80;
packet.writeUInt32BE(0x1234, 8);

const tx = new SrtpSession(key);
const wire = [];
let t = process.hrtime.bigint();
for (let i = 0; i < n; i++) {
  packet.writeUInt16BE(i & 0xffff, 2);
  packet.writeUInt32BE(i >>> 16, 4); // a new timestamp per rollover keeps every packet distinct
  const p = tx.protectRtp(packet);
  if (i < 60_000) wire.push(p);
}
const protectNs = Number(process.hrtime.bigint() - t) / n;

const rx = new SrtpSession(key);
t = process.hrtime.bigint();
let ok = 0;
for (const p of wire) if (rx.unprotectRtp(p)) ok++;
const unprotectNs = Number(process.hrtime.bigint() - t) / wire.length;
if (ok !== wire.length) throw new Error(`only ${ok} of ${wire.length} packets authenticated`);
console.log(JSON.stringify({ packets: n, protectUs: +(protectNs / 1000).toFixed(2), unprotectUs: +(unprotectNs / 1000).toFixed(2) }));
