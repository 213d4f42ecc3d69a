/**
 * Assembles one media pod from its parts — config source, SIP transport and transactions,
 * authentication, callbacks, media, speech — and owns its lifecycle: start, drain on SIGTERM
 * (refuse new calls, keep the ones in progress until they end or the grace period runs out),
 * and stop.
 */
import { createLogger, type Logger } from '@sipflow/operator/log';
import type { MediaPodOptions } from './cli/options.js';
import { systemClock, type Clock } from './clock.js';
import { ConfigStore, type ConfigLoadResult } from './config/store.js';
import { DirWatcher } from './config/dir-watcher.js';
import { loadFromConfigDir, loadFromManifests } from './config/loaders.js';
import { KubeConfigSource, resolveKubeNamespace } from './config/kube-source.js';
import { MediaMetrics } from './observability/metrics.js';
import { startStatusHttpServer, type StatusHttpServer } from './observability/http-server.js';
import { SipTransportLayer, TlsCredentialsWatcher, describeCertificate, readTlsCredentials, type TlsCredentialFiles } from './sip/transport/index.js';
import { TransactionLayer } from './sip/transaction/index.js';
import { DigestAuthenticator, LockoutTable } from './auth/index.js';
import { AnswerUrlClient, CallbackClient } from './callbacks/index.js';
import { MediaClock, RtpPortPool } from './media/rtp/index.js';
import { CachingSpeechEngine, FallbackSpeechEngine, SpeechError, type SpeechEngine } from './speech/engine.js';
import { HttpSpeechEngine } from './speech/http-engine.js';
import { FliteSpeechEngine } from './speech/flite-engine.js';
import { WebSocketSpeechRecognizer, type SpeechRecognizer } from './speech/recognizer.js';
import { HttpRecordingStore } from './recording/store.js';
import { AudioFetcher } from './audio/fetcher.js';
import { SipIngress } from './call/ingress.js';

export interface MediaPod {
  readonly sipPorts: { udp?: number; tcp?: number; tls?: number };
  readonly httpPort: number;
  readonly ingress: SipIngress;
  readonly config: ConfigStore;
  readonly metrics: MediaMetrics;
  /** Refuse new calls; resolve when every call ended or the grace period ran out (then cut them). */
  drain(graceSec?: number): Promise<void>;
  /** Ends all calls and releases every socket, timer and worker. */
  stop(): Promise<void>;
}

/** How long a stopping pod waits for recordings still being uploaded. */
const RECORDINGS_SETTLE_MS = 30_000;

export interface MediaPodDeps {
  logger?: Logger;
  clock?: Clock;
  speech?: SpeechEngine;
  recognizer?: SpeechRecognizer;
}

/**
 * <Speak>'s engine: the built-in flite, or an external TTS service with flite speaking whenever the
 * service fails (each with its own prompt cache, so a fallback prompt is not kept for the service's).
 */
function speechEngineFor(opts: MediaPodOptions, log: Logger, clock: Clock, metrics: MediaMetrics): SpeechEngine {
  const builtIn = new CachingSpeechEngine(new FliteSpeechEngine({ logger: log }));
  if (!opts.tts) return builtIn;
  const service = new HttpSpeechEngine({
    url: opts.tts.url, clock, timeoutMs: opts.tts.timeoutSec * 1000,
    ...(opts.tts.authorization ? { headers: { authorization: opts.tts.authorization } } : {}),
  });
  return new FallbackSpeechEngine(new CachingSpeechEngine(service), builtIn, (err) => {
    metrics.speechFallbacks.inc({ cause: err instanceof SpeechError ? err.cause : 'failed' });
    log.warn('TTS service failed; the built-in voice speaks instead', { error: err.message });
  });
}

export async function startMediaPod(opts: MediaPodOptions, deps: MediaPodDeps = {}): Promise<MediaPod> {
  const logger = deps.logger ?? createLogger('media-pod');
  const clock = deps.clock ?? systemClock;
  // First, before anything starts: told to run TLS, the pod refuses to start without usable credentials.
  const tlsFiles: TlsCredentialFiles | undefined = opts.sipTls
    ? { certFile: opts.sipTls.certFile, keyFile: opts.sipTls.keyFile, ...(opts.sipTls.caFile ? { caFile: opts.sipTls.caFile } : {}) }
    : undefined;
  const tlsCreds = tlsFiles ? await readTlsCredentials(tlsFiles) : undefined;
  const metrics = new MediaMetrics();
  const store = new ConfigStore(logger.child({ subsystem: 'config' }), metrics);

  let watcher: DirWatcher | undefined;
  const load = (): ConfigLoadResult => {
    if (opts.manifests) return loadFromManifests(opts.manifests, opts.sipDomain);
    if (opts.configDir) return loadFromConfigDir(opts.configDir);
    return { ok: false, error: 'no config source' };
  };
  let kubeSource: KubeConfigSource | undefined;
  let origin: string;
  if (opts.kube) {
    // /readyz says "no config loaded" until the first complete generation arrives.
    kubeSource = new KubeConfigSource({
      store, metrics, clock, namespace: resolveKubeNamespace(opts.kubeNamespace), logger: logger.child({ subsystem: 'config-kube' }),
    });
    origin = kubeSource.origin;
  } else {
    origin = opts.manifests ? `manifests:${opts.manifests}` : `config-dir:${opts.configDir}`;
    store.offer(load(), origin);
    watcher = new DirWatcher((opts.manifests ?? opts.configDir)!, () => store.offer(load(), origin));
    watcher.start();
  }

  const transport = await SipTransportLayer.listen({
    host: opts.sipListen.host, port: opts.sipListen.port,
    advertised: { host: opts.advertise }, tcpMessageTimeoutMs: opts.sipTcpMessageTimeoutSec * 1000,
    ...(opts.sipTls && tlsCreds ? {
      tls: {
        port: opts.sipTls.port, cert: tlsCreds.cert, key: tlsCreds.key, ...(tlsCreds.ca ? { ca: tlsCreds.ca } : {}),
        requestClientCert: opts.sipTls.requireClientCert,
      },
    } : {}),
    clock, logger: logger.child({ subsystem: 'sip-transport' }),
  });
  // A renewed certificate (cert-manager rotating the Secret) serves new connections; calls keep theirs.
  const tlsWatcher = opts.sipTls && tlsFiles && tlsCreds
    ? new TlsCredentialsWatcher(tlsFiles, {
      initial: tlsCreds,
      apply: (c) => { transport.reloadTlsCredentials(c); recordCertificateExpiry(metrics, c.cert); },
      pollMs: opts.sipTls.reloadIntervalSec * 1000,
      clock, logger: logger.child({ subsystem: 'sip-tls' }),
    })
    : undefined;
  tlsWatcher?.start();
  if (tlsCreds) recordCertificateExpiry(metrics, tlsCreds.cert);
  // Finished transactions linger 32 s (Timer J/K/I, RFC 6026 Accepted), so 300 calls/s keeps ~20,000 alive.
  const transactions = new TransactionLayer(transport, { clock, maxTransactions: 60_000, logger: logger.child({ subsystem: 'sip-transaction' }) });
  const digest = new DigestAuthenticator({ clock, ...(opts.nonceKey ? { nonceKey: Buffer.from(opts.nonceKey, 'utf8') } : {}) });
  const lockout = new LockoutTable({
    clock, threshold: opts.lockout.threshold, windowMs: opts.lockout.windowSec * 1000, lockoutMs: opts.lockout.durationSec * 1000,
  });
  const answerClient = new AnswerUrlClient({ clock, logger: logger.child({ subsystem: 'answer-url' }) });
  const callbacks = new CallbackClient({ clock, logger: logger.child({ subsystem: 'callbacks' }) });
  const rtpPool = new RtpPortPool(opts.rtpPorts.lo, opts.rtpPorts.hi, { clock });
  const mediaClock = new MediaClock({
    clock, logger: logger.child({ subsystem: 'media-clock' }),
    onSkip: (ticks, streams) => { metrics.mediaClockStalls.inc(); metrics.mediaFramesSkipped.inc(ticks * streams); },
    onDrop: (frames) => metrics.mediaFramesDropped.inc(frames),
  });
  const speech = deps.speech ?? speechEngineFor(opts, logger.child({ subsystem: 'speech' }), clock, metrics);
  const audio = new AudioFetcher({ clock, logger: logger.child({ subsystem: 'audio' }) });
  const recognizer = deps.recognizer ?? (opts.speechRecognizer
    ? new WebSocketSpeechRecognizer({
      url: opts.speechRecognizer.url, logger: logger.child({ subsystem: 'speech-recognizer' }),
      ...(opts.speechRecognizer.authorization ? { headers: { Authorization: opts.speechRecognizer.authorization } } : {}),
      onOutcome: (outcome) => metrics.speechRecognitions.inc({ outcome }),
    })
    : undefined);

  const recordings = opts.recording
    ? new HttpRecordingStore({
      baseUrl: opts.recording.url, spoolDir: opts.recording.spoolDir, clock, logger: logger.child({ subsystem: 'recordings' }),
      onOutcome: (outcome) => metrics.recordings.inc({ outcome }),
      ...(opts.recording.authorization ? { authorization: opts.recording.authorization } : {}),
    })
    : undefined;

  const ingress = new SipIngress({
    transactions, transport, answerClient, callbacks, speech, recognizer, recordings, audio, metrics, clock,
    advertiseHost: opts.advertise,
    config: store, digest, lockout, rtpPool, mediaClock,
    rtpListenAddress: opts.sipListen.host,
    mediaTimeoutMs: opts.mediaTimeoutSec * 1000,
    holdTimeoutMs: opts.mediaHoldTimeoutSec * 1000,
    rtpSendSilence: opts.rtpSendSilence,
    sessionTimerPolicy: opts.sessionTimer,
    srtpPolicy: opts.srtp,
    maxCallDurationMs: opts.maxCallDurationSec * 1000,
    streamReconnectAttempts: opts.streamReconnectAttempts,
    logger: logger.child({ subsystem: 'call' }),
  });

  let stopped = false;
  const http: StatusHttpServer = await startStatusHttpServer(opts.httpListen.host, opts.httpListen.port, metrics.registry, {
    notReadyReason: () => {
      if (stopped) return 'stopping';
      if (ingress.isDraining) return 'draining';
      if (!store.current()) return `no config loaded${store.refusal() ? `: ${store.refusal()}` : ''}`;
      return null;
    },
    unhealthyReason: () => (stopped ? 'stopped' : null),
  });
  // Started last so a failed listen above leaves no watch connection behind.
  kubeSource?.start();
  logger.info('media pod started', {
    sip: `${opts.sipListen.host}:${transport.ports.udp ?? transport.ports.tcp}`, advertise: opts.advertise,
    ...(transport.ports.tls !== undefined && tlsCreds ? {
      sipTls: `${opts.sipListen.host}:${transport.ports.tls}`, sipTlsAdvertised: `${transport.advertisedFor('tls').host}:${transport.advertisedFor('tls').port}`,
      tlsCertificate: describeCertificate(tlsCreds.cert), tlsClientCertRequired: opts.sipTls?.requireClientCert ?? false,
    } : {}),
    http: `${http.address.address}:${http.address.port}`, rtpPorts: `${opts.rtpPorts.lo}-${opts.rtpPorts.hi}`, configSource: origin,
    srtp: opts.srtp,
  });

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    ingress.endAll(9020, 'media pod stopping');
    tlsWatcher?.stop();
    watcher?.stop();
    watcher = undefined;
    await kubeSource?.stop();
    // Let BYEs and hangup callbacks leave before the sockets close.
    await new Promise((r) => setTimeout(r, 200));
    // Recordings of the calls just ended are still being uploaded; their callbacks follow.
    if (recordings && !(await recordings.settle(RECORDINGS_SETTLE_MS))) logger.warn('media pod stopping with recordings still being uploaded; they are lost', {});
    await new Promise((r) => setImmediate(r));
    transactions.close();
    await transport.close();
    answerClient.close();
    await callbacks.close();
    await audio.close();
    await speech.close?.();
    await http.close();
    logger.info('media pod stopped');
  };

  const drain = async (graceSec = opts.drainGraceSec): Promise<void> => {
    ingress.startDraining();
    const deadline = Date.now() + graceSec * 1000;
    while (ingress.activeCalls > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (ingress.activeCalls > 0) {
      logger.warn('drain grace period over; ending remaining calls', { activeCalls: ingress.activeCalls });
      ingress.endAll(9020, 'drain grace period over');
    }
  };

  return { sipPorts: transport.ports, httpPort: http.address.port, ingress, config: store, metrics, drain, stop };
}

/** Exposes the certificate's end of validity, so an alert can fire before a stuck renewal bites. */
function recordCertificateExpiry(metrics: MediaMetrics, cert: Buffer): void {
  const validTo = describeCertificate(cert).validTo;
  const at = validTo ? Date.parse(validTo) : NaN;
  if (Number.isFinite(at)) metrics.tlsCertificateExpiry.set(Math.floor(at / 1000));
}
