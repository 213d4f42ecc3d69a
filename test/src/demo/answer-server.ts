/**
 * The demo answer server of the local stack: answers every call with a greeting and a
 * bidirectional audio stream to the demo agent, building its XML with Plivo's own SDK exactly
 * as a Plivo application would. It logs every callback it receives so a person can see them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import plivo from 'plivo';

export interface DemoAnswerServerOptions {
  host?: string;
  port?: number;
  /** WebSocket URL of the agent the call's audio is streamed to. */
  agentUrl: string;
  log?: (line: string) => void;
}

export interface CallbackRecord { path: string; method: string; params: Record<string, string> }

export interface DemoAnswerServer {
  readonly url: string;
  readonly callbacks: CallbackRecord[];
  close(): Promise<void>;
}

export function demoAnswerXml(agentUrl: string): string {
  const r = plivo.Response();
  r.addSpeak('Hello from sipflow. You are now talking to the demo agent. It repeats what you say.', { voice: 'WOMAN', language: 'en-US' });
  r.addStream(agentUrl, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000', extraHeaders: 'demo=1' });
  return r.toXML();
}

async function readParams(req: http.IncomingMessage): Promise<Record<string, string>> {
  const url = new URL(req.url ?? '/', 'http://local');
  const params: Record<string, string> = Object.fromEntries(url.searchParams);
  if (req.method === 'POST') {
    let body = '';
    for await (const chunk of req) { body += chunk; if (body.length > 1 << 20) break; }
    for (const [k, v] of new URLSearchParams(body)) params[k] = v;
  }
  return params;
}

export async function startDemoAnswerServer(opts: DemoAnswerServerOptions): Promise<DemoAnswerServer> {
  const callbacks: CallbackRecord[] = [];
  const log = opts.log ?? ((line: string) => console.log(line));
  const server = http.createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://local').pathname;
      const params = await readParams(req);
      callbacks.push({ path, method: req.method ?? 'GET', params });
      if (callbacks.length > 1000) callbacks.shift();
      log(JSON.stringify({ component: 'demo-answer-server', path, method: req.method, CallUUID: params.CallUUID, From: params.From, To: params.To, Event: params.Event, HangupCauseCode: params.HangupCauseCode }));
      if (path === '/answer') {
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.end(demoAnswerXml(opts.agentUrl));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 5080, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address}:${addr.port}`,
    callbacks,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
