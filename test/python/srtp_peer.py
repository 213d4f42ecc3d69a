"""An SRTP caller's media leg for sipflow's tests, protected and checked by libsrtp (pylibsrtp).

The media pod's own SRTP code must interoperate with an independent implementation, so this peer
never uses sipflow code: it binds a UDP port and prints it, reads one JSON line on stdin with the
pod's RTP address and both SDES keys, then sends FRAMES μ-law frames at 20 ms (frame i is filled
with a byte pattern derived from i), every tamperEvery-th one preceded by a copy with one flipped
payload bit that the pod must drop. Everything the pod sends back (SRTP, and SRTCP muxed
on the same port) is unprotected with libsrtp. When it has been quiet for a while (and at least one
SRTCP report came, or time ran out), it prints one JSON line with what it saw and exits.

stdout: {"event":"listening","port":N} then {"event":"result",...}. Bounded: exits after 20 s.
"""

import base64
import json
import os
import select
import socket
import struct
import sys
import time

from pylibsrtp import Error as SrtpError
from pylibsrtp import Policy, Session

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}
HARD_LIMIT_S = 20.0


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def frame_payload(i):
    # Distinct per frame and per byte, so any misplaced, repeated or corrupted frame shows.
    return bytes(((i * 7 + j) * 13) & 0xFF for j in range(160))


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    emit({"event": "listening", "port": sock.getsockname()[1]})
    cfg = json.loads(sys.stdin.readline())
    profile = PROFILES[cfg["suite"]]
    tx = Session(policy=Policy(key=base64.b64decode(cfg["txKey"]), ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    rx = Session(policy=Policy(key=base64.b64decode(cfg["rxKey"]), ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
    dest = (cfg["host"], int(cfg["port"]))
    frames = int(cfg["frames"])
    tamper_every = int(cfg.get("tamperEvery", 0))
    quiet_s = float(cfg.get("quietSeconds", 1.5))
    ssrc = struct.unpack("!I", os.urandom(4))[0]
    seq = struct.unpack("!H", os.urandom(2))[0]
    ts = struct.unpack("!I", os.urandom(4))[0] & 0x7FFFFFFF

    received = []
    auth_failures = 0
    rtcp_ok = 0
    rtcp_failures = 0
    rtcp_types = []
    sent = 0
    tampered = 0
    start = time.monotonic()
    next_send = start
    last_rx = start

    def handle(data):
        nonlocal auth_failures, rtcp_ok, rtcp_failures, last_rx
        last_rx = time.monotonic()
        if len(data) >= 2 and 192 <= data[1] <= 223:  # RTCP packet types 200-204 (RFC 5761 §4)
            try:
                plain = rx.unprotect_rtcp(data)
                rtcp_ok += 1
                rtcp_types.append(plain[1])
            except SrtpError:
                rtcp_failures += 1
            return
        try:
            plain = rx.unprotect(data)
        except SrtpError:
            auth_failures += 1
            return
        cc = plain[0] & 0x0F
        pt = plain[1] & 0x7F
        rseq, = struct.unpack("!H", plain[2:4])
        received.append({"pt": pt, "seq": rseq, "payload": plain[12 + 4 * cc:].hex()})

    while True:
        now = time.monotonic()
        if now - start > HARD_LIMIT_S:
            break
        if sent >= frames and now - last_rx > quiet_s and (rtcp_ok > 0 or now - start > 8.0):
            break
        if sent < frames and now >= next_send:
            header = struct.pack("!BBHII", 0x80, 0x80 if sent == 0 else 0x00, seq, ts, ssrc)
            payload = frame_payload(sent)
            packet = tx.protect(header + payload)
            if tamper_every and sent % tamper_every == tamper_every - 1:
                # A copy of the same packet with one payload bit flipped goes first: the pod must
                # drop it (authentication fails) and still take the genuine one after it.
                bad = bytearray(packet)
                bad[20] ^= 0x01
                sock.sendto(bytes(bad), dest)
                tampered += 1
            sock.sendto(packet, dest)
            sent += 1
            seq = (seq + 1) & 0xFFFF
            ts = (ts + 160) & 0xFFFFFFFF
            next_send += 0.020
            if sent == frames:
                last_rx = max(last_rx, time.monotonic())
        timeout = max(0.0, min(0.02, next_send - time.monotonic())) if sent < frames else 0.05
        ready, _, _ = select.select([sock], [], [], timeout)
        if ready:
            data, _ = sock.recvfrom(2048)
            handle(data)

    emit({
        "event": "result", "sent": sent, "tampered": tampered, "received": received,
        "authFailures": auth_failures, "rtcpOk": rtcp_ok, "rtcpFailures": rtcp_failures, "rtcpTypes": rtcp_types,
    })


if __name__ == "__main__":
    main()
