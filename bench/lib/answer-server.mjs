// The cheapest possible answer server: a fixed XML document for /answer, "ok" for everything
// else (hangup callbacks), counting requests. It must never be the bottleneck of a benchmark.
import http from 'node:http';

export async function startAnswerServer(answerXml) {
  const counts = { answer: 0, hangup: 0, other: 0 };
  const xml = Buffer.from(answerXml);
  const server = http.createServer((req, res) => {
    // Drain the form body without buffering it.
    req.on('data', () => {});
    req.on('end', () => {
      if (req.url.startsWith('/answer')) {
        counts.answer++;
        res.writeHead(200, { 'content-type': 'application/xml', 'content-length': xml.length });
        res.end(xml);
      } else {
        if (req.url.startsWith('/hangup')) counts.hangup++; else counts.other++;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
        res.end('ok');
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
