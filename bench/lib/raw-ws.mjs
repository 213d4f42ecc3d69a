// The baseline relay's bare WebSocket client (RELAY_WS=ws swaps in the `ws` package), as lean
// as a client can be, so the relay pays no per-frame cost the pod does not: a net socket with `onread`
// (one read buffer shared by every connection, so no ArrayBuffer per read), each masked text frame
// written as one buffer, server frames parsed in place. Text frames only; no fragmentation, ping,
// close handshake or limits: not for anything but the benchmark.
import net from 'node:net';
import { randomBytes, createHash } from 'node:crypto';

const SHARED = Buffer.allocUnsafe(256 * 1024);
let maskPool = randomBytes(4096); let maskAt = 0;

export class RawWs {
  constructor(url, onText) {
    const u = new URL(url);
    this.onText = onText;
    this.open = false;
    this.pending = null; // leftover bytes of an incomplete frame / handshake
    this.key = randomBytes(16).toString('base64');
    this.ready = new Promise((resolve, reject) => { this.resolve = resolve; this.reject = reject; });
    this.sock = net.connect({ host: u.hostname, port: Number(u.port), onread: { buffer: SHARED, callback: (n, buf) => { this.onBytes(buf, n); } } });
    this.sock.setNoDelay(true);
    this.sock.on('connect', () => this.sock.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    this.sock.on('error', (e) => this.reject(e));
  }
  onBytes(buf, n) {
    let data = buf.subarray(0, n);
    if (this.pending) { data = Buffer.concat([this.pending, data]); this.pending = null; }
    let off = 0;
    if (!this.open) {
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) { this.pending = Buffer.from(data); return; }
      const head = data.toString('latin1', 0, end);
      const accept = createHash('sha1').update(this.key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      if (!/^HTTP\/1\.1 101/.test(head) || !head.includes(accept)) { this.reject(new Error('bad handshake')); this.sock.destroy(); return; }
      this.open = true; this.resolve();
      off = end + 4;
    }
    while (off < data.length) {
      if (data.length - off < 2) break;
      const b1 = data[off + 1] & 0x7f; let len = b1; let hdr = 2;
      if (b1 === 126) { if (data.length - off < 4) break; len = data.readUInt16BE(off + 2); hdr = 4; }
      else if (b1 === 127) { if (data.length - off < 10) break; len = Number(data.readBigUInt64BE(off + 2)); hdr = 10; }
      if (data.length - off < hdr + len) break;
      const op = data[off] & 0x0f;
      if (op === 1) this.onText(data, off + hdr, off + hdr + len);
      off += hdr + len;
    }
    if (off < data.length) this.pending = Buffer.from(data.subarray(off));
  }
  sendText(str) {
    const len = Buffer.byteLength(str);
    const hdr = len < 126 ? 6 : 8;
    const out = Buffer.allocUnsafe(hdr + len);
    out[0] = 0x81;
    if (len < 126) out[1] = 0x80 | len; else { out[1] = 0x80 | 126; out.writeUInt16BE(len, 2); }
    if (maskAt + 4 > maskPool.length) { maskPool = randomBytes(4096); maskAt = 0; }
    const m0 = maskPool[maskAt], m1 = maskPool[maskAt + 1], m2 = maskPool[maskAt + 2], m3 = maskPool[maskAt + 3]; maskAt += 4;
    out[hdr - 4] = m0; out[hdr - 3] = m1; out[hdr - 2] = m2; out[hdr - 1] = m3;
    out.write(str, hdr, 'latin1');
    for (let i = 0; i < len; i++) out[hdr + i] ^= (i & 3) === 0 ? m0 : (i & 3) === 1 ? m1 : (i & 3) === 2 ? m2 : m3;
    this.sock.write(out);
  }
  terminate() { this.sock.destroy(); }
}
