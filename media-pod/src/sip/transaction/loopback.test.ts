// The transaction layer wired to real UDP and TCP transports on loopback: a client transaction on
// one pod gets its final response from a server transaction on another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@sipflow/operator/log';
import { createRequest, getHeader } from '../message/index.js';
import { SipTransportLayer } from '../transport/index.js';
import { TransactionLayer } from './layer.js';

const quiet = createLogger('test', 'error');

for (const transport of ['udp', 'tcp'] as const) {
  test(`OPTIONS over ${transport}: sendRequest resolves with the peer's 200`, { timeout: 15_000 }, async () => {
    const a = await SipTransportLayer.listen({ host: '127.0.0.1', port: 0, logger: quiet });
    const b = await SipTransportLayer.listen({ host: '127.0.0.1', port: 0, logger: quiet });
    const ta = new TransactionLayer(a, { logger: quiet });
    const tb = new TransactionLayer(b, { logger: quiet });
    try {
      tb.on('request', (tx) => tx.respond(200, 'OK', { headers: [['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS']] }));
      const req = createRequest({ method: 'OPTIONS', uri: `sip:127.0.0.1:${b.ports.udp}`, headers: [
        ['From', '<sip:probe@127.0.0.1>;tag=p1'], ['To', `<sip:127.0.0.1:${b.ports.udp}>`], ['Call-ID', `loop-${transport}`], ['CSeq', '1 OPTIONS'],
      ] });
      const port = transport === 'udp' ? b.ports.udp! : b.ports.tcp!;
      const res = await ta.sendRequest(req, { transport, address: '127.0.0.1', port });
      assert.equal(res.status, 200);
      assert.equal(getHeader(res, 'Allow'), 'INVITE');
      assert.match(getHeader(res, 'To')!, /;tag=/);
    } finally {
      ta.close(); tb.close();
      await a.close(); await b.close();
    }
  });
}
