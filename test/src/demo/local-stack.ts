/**
 * `make run`: the whole call path on one machine with no cluster — the media pod (the real
 * `sipflow-media` binary) on the manifests in examples/, the demo answer server and the demo
 * agent. Ctrl-C stops all three.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { MEDIA_POD_NODE_ARGS } from '@sipflow/media-pod/node-flags';
import { startDemoAgent } from './agent.js';
import { startDemoAnswerServer } from './answer-server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const sipListen = process.env.SIPFLOW_SIP_LISTEN ?? '127.0.0.1:5060';
const httpListen = process.env.SIPFLOW_HTTP_LISTEN ?? '127.0.0.1:8080';

const agent = await startDemoAgent({ port: Number(process.env.DEMO_AGENT_PORT ?? 5090) });
const answer = await startDemoAnswerServer({ port: Number(process.env.DEMO_ANSWER_PORT ?? 5080), agentUrl: agent.url });

const pod = spawn(process.execPath, [
  ...MEDIA_POD_NODE_ARGS,
  path.join(root, 'media-pod/bin/sipflow-media.js'),
  '--manifests', path.join(root, 'examples'),
  '--sip-listen', sipListen,
  '--http-listen', httpListen,
  '--rtp-ports', process.env.SIPFLOW_RTP_PORTS ?? '20000-20999',
  '--sip-domain', process.env.SIPFLOW_SIP_DOMAIN ?? 'sip.local',
], { stdio: 'inherit' });

console.log(`
sipflow local stack
  SIP            udp+tcp ${sipListen}   (call sip:support-line@sip.local — loopback is in its IP ACL)
  health/metrics http://${httpListen}/healthz  /readyz  /metrics
  answer server  ${answer.url}/answer   (greeting + bidirectional <Stream> to the demo agent)
  demo agent     ${agent.url}            (echoes your voice, beeps on each key)
  try:           sipp -sn uac -s support-line -m 1 -d 5000 ${sipListen}
  examples/ is watched: edit a file and the media pod reloads it.
`);

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (pod.exitCode === null) pod.kill('SIGINT');
  await Promise.all([agent.close(), answer.close()]);
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
pod.on('exit', (code) => void shutdown(code ?? 1));
