/**
 * The demo agent of the local stack: a WebSocket server speaking Plivo's audio-streaming
 * protocol from the agent's side. It echoes the caller's audio back (after a short delay, so
 * the caller hears themselves) and answers every DTMF digit with a short beep and a checkpoint.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { linearToUlaw } from '@sipflow/media-pod/media/codec/g711';

export interface DemoAgent {
  readonly url: string;
  close(): Promise<void>;
}

/** 150 ms of a 1 kHz tone in μ-law at 8 kHz, computed once. */
function beepUlaw(): Buffer {
  const n = 1200;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    const s = Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 8000));
    out[i] = linearToUlaw(s);
  }
  return out;
}

export async function startDemoAgent(opts: { host?: string; port?: number; log?: (line: string) => void } = {}): Promise<DemoAgent> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const beep = beepUlaw().toString('base64');
  const wss = new WebSocketServer({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 5090, perMessageDeflate: false, maxPayload: 65536 });
  await new Promise<void>((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject); });
  wss.on('connection', (ws: WebSocket) => {
    let streamId = '';
    let checkpoints = 0;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: { event?: string; start?: { streamId?: string; callId?: string }; media?: { payload?: string }; dtmf?: { digit?: string } };
      try { msg = JSON.parse(data.toString()); } catch { return; }
      switch (msg.event) {
        case 'start':
          streamId = msg.start?.streamId ?? '';
          log(JSON.stringify({ component: 'demo-agent', event: 'start', callId: msg.start?.callId, streamId }));
          break;
        case 'media':
          if (msg.media?.payload) {
            ws.send(JSON.stringify({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: msg.media.payload }, streamId }));
          }
          break;
        case 'dtmf':
          log(JSON.stringify({ component: 'demo-agent', event: 'dtmf', digit: msg.dtmf?.digit }));
          ws.send(JSON.stringify({ event: 'clearAudio', streamId }));
          ws.send(JSON.stringify({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: '8000', payload: beep }, streamId }));
          ws.send(JSON.stringify({ event: 'checkpoint', streamId, name: `digit-${msg.dtmf?.digit}-${++checkpoints}` }));
          break;
        case 'playedStream':
        case 'clearedAudio':
        case 'stop':
          log(JSON.stringify({ component: 'demo-agent', event: msg.event }));
          break;
        default:
          break;
      }
    });
  });
  const addr = wss.address() as AddressInfo;
  return {
    url: `ws://${addr.address}:${addr.port}/agent`,
    close: () => new Promise((resolve) => { for (const c of wss.clients) c.terminate(); wss.close(() => resolve()); }),
  };
}
