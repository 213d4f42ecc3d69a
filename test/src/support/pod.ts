/**
 * Starts a real media pod in the test process on loopback with ephemeral SIP/HTTP ports and a
 * private RTP range, on manifests written to a temp directory, and captures its log lines so
 * tests can assert on them (and scan them for secrets).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger, setLogSink } from '@sipflow/operator/log';
import { parseOptions } from '@sipflow/media-pod/cli/options';
import { startMediaPod, type MediaPod } from '@sipflow/media-pod/pod';

// Each test process takes its own stretch of RTP ports (RtpSession also skips ports someone else bound).
let nextRtpBase = 21000 + Math.floor(Math.random() * 300) * 100;
const captured: string[] = [];
let sinkInstalled = false;

/** Every log line written by pods started in this process, in order. */
export function capturedLogs(): readonly string[] { return captured; }

export interface TestPod {
  pod: MediaPod;
  sipPort: number;
  httpPort: number;
  dir: string;
  /** Replaces the manifests (the pod reloads on its own). */
  writeManifests(yaml: string): void;
  /** Log lines of this process that parse as JSON. */
  logs(): Array<Record<string, unknown>>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export interface TestPodOptions {
  manifests: string;
  host?: string;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

export async function startTestPod(o: TestPodOptions): Promise<TestPod> {
  if (!sinkInstalled) {
    sinkInstalled = true;
    setLogSink((line) => { captured.push(line); if (captured.length > 50_000) captured.splice(0, 10_000); if (process.env.SIPFLOW_TEST_LOGS) process.stderr.write(line + '\n'); });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-pod-'));
  fs.writeFileSync(path.join(dir, 'manifests.yaml'), o.manifests);
  const host = o.host ?? '127.0.0.1';
  const lo = nextRtpBase; nextRtpBase += 100;
  const opts = parseOptions([
    '--manifests', dir, '--sip-listen', `${host.includes(':') ? `[${host}]` : host}:0`, '--http-listen', '127.0.0.1:0',
    '--rtp-ports', `${lo}-${lo + 99}`, '--sip-domain', 'sip.test', ...(o.extraArgs ?? []),
  ], o.env ?? {});
  const pod = await startMediaPod(opts, { logger: createLogger('media-pod', 'debug') });
  const sipPort = pod.sipPorts.udp ?? pod.sipPorts.tcp ?? 0;
  return {
    pod, sipPort, httpPort: pod.httpPort, dir,
    writeManifests(yaml) {
      const tmp = path.join(dir, '.manifests.tmp');
      fs.writeFileSync(tmp, yaml);
      fs.renameSync(tmp, path.join(dir, 'manifests.yaml'));
    },
    logs() {
      const out: Array<Record<string, unknown>> = [];
      for (const l of captured) { try { out.push(JSON.parse(l) as Record<string, unknown>); } catch { /* not ours */ } }
      return out;
    },
    metrics: () => pod.metrics.registry.metrics(),
    async stop() { await pod.stop(); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}
