#!/usr/bin/env node
// What <Stream noiseCancellation="true"> adds per 20 ms frame of the caller's audio, on one core:
// the stream's inbound path as it runs without the attribute (a μ-law frame into its `media`
// message) is the baseline, measured in the same run, against the same path with the noise
// suppressor in front (μ-law decoded, suppressed, encoded into the message). Needs `npx tsc -b`.
// usage: node bench/denoise-micro.mjs [frames]   (default 100000)
import { MediaMessageEncoder } from '../media-pod/dist/stream/wire-messages.js';
import { streamFormatOf } from '../media-pod/dist/stream/protocol.js';
import { ulawDecode, ulawEncode } from '../media-pod/dist/media/codec/g711.js';
import { NoiseSuppressor } from '../media-pod/dist/media/analysis/noise-suppressor.js';

const n = Number(process.argv[2] ?? 100_000);
const format = streamFormatOf('audio/x-mulaw;rate=8000');

// One second of noisy voice-like audio, cycled: the suppressor's work does not depend on content,
// but realistic input keeps its gains and branches honest.
let seed = 1;
const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32 - 0.5; };
const frames = Array.from({ length: 50 }, (_, f) => {
  const pcm = new Int16Array(160);
  for (let i = 0; i < 160; i++) {
    const t = (f * 160 + i) / 8000;
    pcm[i] = Math.round(3000 * Math.sin(2 * Math.PI * 180 * t) * (0.6 + 0.4 * Math.sin(2 * Math.PI * 4 * t)) + rnd() * 1500);
  }
  return ulawEncode(pcm);
});

function run(withSuppressor) {
  const enc = new MediaMessageEncoder('inbound', format, 'b0b0b0b0-0000-4000-8000-000000000000', '');
  const ns = withSuppressor ? new NoiseSuppressor({ level: 85 }) : undefined;
  const pcmFrame = { pcm: new Int16Array(160) };
  let bytes = 0;
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const ulaw = frames[i % frames.length];
    let msg;
    if (ns) {
      ulawDecode(ulaw, pcmFrame.pcm);
      ns.process(pcmFrame.pcm, pcmFrame.pcm);
      msg = enc.encode(pcmFrame, i + 1, i + 1, 1_700_000_000_000 + i * 20);
    } else {
      msg = enc.encode({ ulaw }, i + 1, i + 1, 1_700_000_000_000 + i * 20);
    }
    bytes += msg?.length ?? 0;
  }
  const us = Number(process.hrtime.bigint() - t) / 1000 / n;
  if (bytes === 0) throw new Error('no messages encoded');
  return us;
}

// Warm both paths up, then alternate so drift on the machine affects both alike.
run(false); run(true);
const base = [];
const denoised = [];
for (let r = 0; r < 3; r++) { base.push(run(false)); denoised.push(run(true)); }
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const b = median(base);
const d = median(denoised);
console.log(JSON.stringify({
  frames: n,
  baselineUsPerFrame: +b.toFixed(2),
  noiseCancellationUsPerFrame: +d.toFixed(2),
  ratio: +(d / b).toFixed(1),
  addedCpuMsPerCallSecond: +(((d - b) * 50) / 1000).toFixed(2),
}));
