#!/usr/bin/env node
// A minimal stateless SIP proxy over UDP for the signalling benchmark. sipp 3.6 answers only the
// first Proxy-Authenticate challenge and only with MD5 (SIPp issue #488), while the media pod
// offers SHA-256 first and MD5 second (RFC 7616 order). This proxy sits in front of the server
// under test, pushes its own Via so responses come back through it, and drops any challenge
// whose algorithm sipp cannot answer. The same proxy stands in front of the baseline UAS, so both
// sides of the ratio pay for the same extra hop.
//
// usage: node challenge-filter.mjs --listen 127.0.0.1:PORT --target 127.0.0.1:PORT
// Prints one line `{"ready":true,"port":N}` on stdout once bound; stops on SIGTERM/SIGINT or
// after --max-seconds (default 600), and prints its counters as JSON before exiting.
import dgram from 'node:dgram';

const args = new Map();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
const [listenHost, listenPortText] = (args.get('listen') ?? '127.0.0.1:0').split(':');
const [targetHost, targetPortText] = (args.get('target') ?? '').split(':');
const targetPort = Number(targetPortText);
if (!targetHost || !targetPort) {
  process.stderr.write('usage: challenge-filter.mjs --listen HOST:PORT --target HOST:PORT\n');
  process.exit(2);
}
const maxSeconds = Number(args.get('max-seconds') ?? 600);

const BRANCH_PREFIX = 'z9hG4bKcf';
const counters = { requests: 0, responses: 0, challengesDropped: 0, unroutable: 0 };
const sock = dgram.createSocket('udp4');
let ownVia = '';

/** The proxy's branch is derived from the client's, so an ACK to a 407 matches its INVITE. */
function derivedBranch(text) {
  const m = /;branch=([^;,\s]+)/i.exec(text);
  return BRANCH_PREFIX + (m ? m[1].replace(/^z9hG4bK/i, '') : 'x');
}

function onRequest(text) {
  counters.requests++;
  const lineEnd = text.indexOf('\r\n');
  const viaAt = text.search(/\r\n(Via|v):/i);
  const branch = derivedBranch(viaAt >= 0 ? text.slice(viaAt, text.indexOf('\r\n', viaAt + 2)) : '');
  const out = `${text.slice(0, lineEnd)}\r\nVia: ${ownVia};branch=${branch}${text.slice(lineEnd)}`;
  sock.send(out, targetPort, targetHost);
}

function onResponse(text) {
  counters.responses++;
  // Pop our own Via (the first value); the next names the client. sipp's [last_Via:] joins
  // every Via into one comma-separated line, the media pod keeps one line per value.
  const first = text.search(/\r\n(Via|v):/i);
  if (first < 0) { counters.unroutable++; return; }
  const firstEnd = text.indexOf('\r\n', first + 2);
  const line = text.slice(first, firstEnd);
  const comma = line.indexOf(',');
  let rest = comma < 0
    ? text.slice(0, first) + text.slice(firstEnd)
    : `${text.slice(0, first)}\r\nVia: ${line.slice(comma + 1).trimStart()}${text.slice(firstEnd)}`;
  const next = /\r\n(?:Via|v):\s*SIP\/2\.0\/UDP\s+([^;:\s]+):(\d+)/i.exec(rest);
  if (!next) { counters.unroutable++; return; }
  if (rest.startsWith('SIP/2.0 407') || rest.startsWith('SIP/2.0 401')) {
    rest = rest.replace(/\r\n(Proxy|WWW)-Authenticate:[^\r]*algorithm=(?!MD5\b)[^\r]*/gi, () => { counters.challengesDropped++; return ''; });
  }
  sock.send(rest, Number(next[2]), next[1]);
}

sock.on('message', (msg) => {
  const text = msg.toString('latin1');
  if (text.startsWith('SIP/2.0 ')) onResponse(text);
  else onRequest(text);
});
sock.on('error', (err) => process.stderr.write(`challenge-filter socket error: ${err.message}\n`));
sock.bind(Number(listenPortText || 0), listenHost || '127.0.0.1', () => {
  // Large buffers so bursts at high call rates are not dropped inside the proxy.
  try { sock.setRecvBufferSize(8 << 20); sock.setSendBufferSize(8 << 20); } catch { /* kernel cap */ }
  const { address, port } = sock.address();
  ownVia = `SIP/2.0/UDP ${address}:${port}`;
  process.stdout.write(JSON.stringify({ ready: true, port }) + '\n');
});

function stop() {
  process.stdout.write(JSON.stringify({ counters }) + '\n');
  sock.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, maxSeconds * 1000).unref();
// Keep the process alive while the socket is bound (the stop timer is unref'd).
