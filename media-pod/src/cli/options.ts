/**
 * Command-line flags of `sipflow-media`, each also readable from an environment variable so
 * the same binary is configured by flags on a laptop and by env in a container.
 */

import os from 'node:os';

export interface HostPort { host: string; port: number }

/** SIP over TLS: on when a certificate and key are given. */
export interface SipTlsFlags {
  port: number;
  certFile: string;
  keyFile: string;
  /** Extra trusted CAs: client certificates (mutual TLS) and servers the pod connects to. */
  caFile?: string;
  requireClientCert: boolean;
  /** How often the certificate files are re-read for a renewal. */
  reloadIntervalSec: number;
}

export interface MediaPodOptions {
  /** Local mode: render manifests from this directory in-process and reload on change. */
  manifests?: string;
  /** Read rendered contract files from this directory (a mounted ConfigMap/Secret volume). */
  configDir?: string;
  /** Watch the contract ConfigMaps/Secrets in this namespace through the API server. */
  kube: boolean;
  kubeNamespace?: string;
  sipListen: HostPort;
  /** Address carried in Contact, Via and SDP; what carriers and RTP peers reach. */
  advertise: string;
  rtpPorts: { lo: number; hi: number };
  httpListen: HostPort;
  sipDomain: string;
  lockout: { threshold: number; windowSec: number; durationSec: number };
  /** Seconds a draining pod keeps its calls before cutting them. */
  drainGraceSec: number;
  /** Shared key for digest nonces, so a challenge from one pod verifies on another. */
  nonceKey?: string;
  mediaTimeoutSec: number;
  /** On hold, for callers that send RTCP: seconds without RTP or RTCP before 6020; 0 = never. */
  mediaHoldTimeoutSec: number;
  /** Seconds a TCP peer has to finish a SIP message once its first byte arrived (slowloris guard). */
  sipTcpMessageTimeoutSec: number;
  /** Session timers (RFC 4028): the longest interval granted and the shortest accepted (Min-SE). */
  sessionTimer: { maxSeSec: number; minSeSec: number };
  /** Answered calls are ended after this many seconds; 0 = no limit. */
  maxCallDurationSec: number;
  /** Connection attempts after an open stream's connection breaks; 0 = the stream ends (Plivo's way). */
  streamReconnectAttempts: number;
  /** SIP over TLS; absent = no TLS listener. */
  sipTls?: SipTlsFlags;
  /** SRTP with SDES keys: refuse it, answer each offer in kind, or refuse plain RTP. */
  srtp: 'off' | 'optional' | 'required';
  /** With nothing to play, send digital silence every 20 ms instead of no packets. */
  rtpSendSilence: boolean;
  /** The speech recognition service for GetInput (recognizer.ts protocol); absent = none. */
  speechRecognizer?: { url: string; authorization?: string };
  /** An external TTS service for Speak (http-engine.ts contract); absent = the built-in flite. */
  tts?: { url: string; authorization?: string; timeoutSec: number };
  /** Where <Record> stores recordings (PUT {url}/{id}.wav); absent = <Record> is refused. */
  recording?: { url: string; authorization?: string; spoolDir: string };
}

interface FlagSpec {
  env: string;
  kind: 'string' | 'bool' | 'hostport' | 'range' | 'int';
  help: string;
}

export const FLAGS: Record<string, FlagSpec> = {
  manifests: { env: 'SIPFLOW_MANIFESTS', kind: 'string', help: 'local mode: render the manifests in DIR in-process, reload on change' },
  'config-dir': { env: 'SIPFLOW_CONFIG_DIR', kind: 'string', help: 'read rendered contract files from DIR (mounted ConfigMap/Secret volumes)' },
  kube: { env: 'SIPFLOW_KUBE', kind: 'bool', help: 'watch the contract ConfigMaps and Secrets through the Kubernetes API' },
  'kube-namespace': { env: 'SIPFLOW_KUBE_NAMESPACE', kind: 'string', help: 'namespace of the contract objects (default: the pod namespace)' },
  'sip-listen': { env: 'SIPFLOW_SIP_LISTEN', kind: 'hostport', help: 'HOST:PORT for SIP over UDP and TCP (default 0.0.0.0:5060)' },
  advertise: { env: 'SIPFLOW_ADVERTISE', kind: 'string', help: 'address put in Contact, Via and SDP (default: the SIP listen host)' },
  'rtp-ports': { env: 'SIPFLOW_RTP_PORTS', kind: 'range', help: 'LO-HI range of RTP ports (default 20000-29999)' },
  'http-listen': { env: 'SIPFLOW_HTTP_LISTEN', kind: 'hostport', help: 'HOST:PORT for /healthz, /readyz, /metrics (default 0.0.0.0:8080)' },
  'sip-domain': { env: 'SIPFLOW_SIP_DOMAIN', kind: 'string', help: 'domain of the SIP URIs sip:{appId}@{domain} (default sip.local)' },
  'lockout-threshold': { env: 'SIPFLOW_LOCKOUT_THRESHOLD', kind: 'int', help: 'failed attempts from one source that trigger a lockout (default 10)' },
  'lockout-window': { env: 'SIPFLOW_LOCKOUT_WINDOW', kind: 'int', help: 'seconds in which the failures are counted (default 60)' },
  'lockout-duration': { env: 'SIPFLOW_LOCKOUT_DURATION', kind: 'int', help: 'seconds a source stays locked out (default 60)' },
  'drain-grace': { env: 'SIPFLOW_DRAIN_GRACE', kind: 'int', help: 'seconds a draining pod keeps its calls (default 3600)' },
  'nonce-key': { env: 'SIPFLOW_NONCE_KEY', kind: 'string', help: 'shared secret that signs digest nonces across pods (default: random per process)' },
  'media-timeout': { env: 'SIPFLOW_MEDIA_TIMEOUT', kind: 'int', help: 'seconds without RTP before a call ends with 6020 (default 60)' },
  'media-hold-timeout': { env: 'SIPFLOW_MEDIA_HOLD_TIMEOUT', kind: 'int', help: 'on hold, for callers that send RTCP: seconds without RTP or RTCP before 6020; 0 = never (default 600)' },
  'session-expires': { env: 'SIPFLOW_SESSION_EXPIRES', kind: 'int', help: 'longest SIP session-timer interval granted; longer requests are reduced (default 1800)' },
  'min-se': { env: 'SIPFLOW_MIN_SE', kind: 'int', help: 'shortest session-timer interval accepted, answered 422 below it (default 90, the RFC 4028 floor)' },
  'max-call-duration': { env: 'SIPFLOW_MAX_CALL_DURATION', kind: 'int', help: 'seconds after answer at which a call is ended with 9070, whatever it is doing; 0 = no limit (default 14400, 4 h)' },
  'stream-reconnect-attempts': { env: 'SIPFLOW_STREAM_RECONNECT_ATTEMPTS', kind: 'int', help: 'new connections tried when an open <Stream> connection breaks (1006, 1001, 1011-1013); 0 ends the stream as Plivo does (default 2)' },
  'sip-tls-cert': { env: 'SIPFLOW_SIP_TLS_CERT', kind: 'string', help: 'PEM certificate (chain) FILE for SIP over TLS; with --sip-tls-key it turns TLS on (default: off)' },
  'sip-tls-key': { env: 'SIPFLOW_SIP_TLS_KEY', kind: 'string', help: 'PEM private key FILE (unencrypted) for SIP over TLS' },
  'sip-tls-port': { env: 'SIPFLOW_SIP_TLS_PORT', kind: 'int', help: 'port of the SIP over TLS listener, on the --sip-listen host (default 5061)' },
  'sip-tls-ca': { env: 'SIPFLOW_SIP_TLS_CA', kind: 'string', help: 'PEM FILE of extra trusted CAs: for client certificates, and added to the system roots for servers the pod connects to' },
  'sip-tls-require-client-cert': { env: 'SIPFLOW_SIP_TLS_REQUIRE_CLIENT_CERT', kind: 'bool', help: 'mutual TLS: refuse TLS clients without a valid certificate (default false)' },
  'sip-tls-reload-interval': { env: 'SIPFLOW_SIP_TLS_RELOAD_INTERVAL', kind: 'int', help: 'seconds between checks of the TLS files for a renewed certificate (default 10)' },
  srtp: { env: 'SIPFLOW_SRTP', kind: 'string', help: 'SRTP with SDES keys (RFC 4568): off, optional (RTP/SAVP and RTP/AVP offers answered in kind) or required (plain RTP refused with 488) (default optional)' },
  'rtp-send-silence': { env: 'SIPFLOW_RTP_SEND_SILENCE', kind: 'bool', help: 'with nothing to play (an agent listening, between verbs), send digital silence every 20 ms, as a phone does, so carrier SBCs that end calls after RTP inactivity keep them; false sends no RTP until there is audio again (default true)' },
  'tts-url': { env: 'SIPFLOW_TTS_URL', kind: 'string', help: 'http(s) URL of an external TTS service for <Speak> (POST {text,voice,language}, answers a WAV; see media-pod/src/speech/http-engine.ts); the built-in voice speaks when it fails' },
  'tts-authorization': { env: 'SIPFLOW_TTS_AUTHORIZATION', kind: 'string', help: 'Authorization header value for the TTS service (give it through the environment, from a Secret; never logged)' },
  'tts-timeout': { env: 'SIPFLOW_TTS_TIMEOUT', kind: 'int', help: 'seconds the TTS service has to answer before the built-in voice speaks instead (default 5)' },
  'speech-recognizer-authorization': { env: 'SIPFLOW_SPEECH_RECOGNIZER_AUTHORIZATION', kind: 'string', help: 'Authorization header value on the recognizer\'s WebSocket upgrade (give it through the environment, from a Secret; never logged)' },
  'speech-recognizer-url': { env: 'SIPFLOW_SPEECH_RECOGNIZER_URL', kind: 'string', help: 'ws:// or wss:// URL of a speech recognition service for <GetInput inputType="speech"> (protocol in media-pod/src/speech/recognizer.ts); without it speech input is refused' },
  'recording-url': { env: 'SIPFLOW_RECORDING_URL', kind: 'string', help: 'http(s) base URL of a recording store for <Record>: each recording is uploaded with PUT URL/RecordingID.wav (audio/wav, 8 kHz 16-bit) and its URL given to the application; without it <Record> is refused' },
  'recording-authorization': { env: 'SIPFLOW_RECORDING_AUTHORIZATION', kind: 'string', help: 'Authorization header value on recording uploads (give it through the environment, from a Secret; never logged)' },
  'recording-spool-dir': { env: 'SIPFLOW_RECORDING_SPOOL_DIR', kind: 'string', help: 'directory recordings are written to while they run, one second of audio in memory at most (default: the temporary directory); each file is removed once uploaded or failed' },
  'sip-tcp-message-timeout': { env: 'SIPFLOW_SIP_TCP_MESSAGE_TIMEOUT', kind: 'int', help: 'seconds a TCP peer has to finish a SIP message it started; slower ones are cut (default 10)' },
};

export class OptionsError extends Error {}

export function usage(): string {
  const lines = ['usage: sipflow-media [flags]', '', 'Every flag can also be set with the environment variable shown.', ''];
  for (const [name, spec] of Object.entries(FLAGS)) lines.push(`  --${name.padEnd(18)} ${spec.env.padEnd(26)} ${spec.help}`);
  return lines.join('\n');
}

export function parseHostPort(text: string, what: string): HostPort {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\s]+):(\d{1,5})$/.exec(text);
  if (!m) throw new OptionsError(`${what}: expected HOST:PORT (IPv6 as [ADDR]:PORT), got "${text}"`);
  const port = Number(m[2]);
  if (port > 65535) throw new OptionsError(`${what}: port ${port} is out of range`);
  return { host: m[1]!, port };
}

function parseRange(text: string, what: string): { lo: number; hi: number } {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text);
  if (!m) throw new OptionsError(`${what}: expected LO-HI, got "${text}"`);
  const lo = Number(m[1]); const hi = Number(m[2]);
  if (lo < 1024 || hi > 65535 || hi - lo < 1) throw new OptionsError(`${what}: range ${text} must lie within 1024-65535 and hold at least two ports`);
  return { lo, hi };
}

function parseInt10(text: string, what: string, min: number): number {
  if (!/^\d+$/.test(text)) throw new OptionsError(`${what}: expected a whole number, got "${text}"`);
  const n = Number(text);
  if (n < min) throw new OptionsError(`${what}: must be at least ${min}`);
  return n;
}

/** Parses argv (without node and script) over the environment; flags win over env. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): MediaPodOptions {
  const raw = new Map<string, string>();
  for (const [name, spec] of Object.entries(FLAGS)) {
    const v = env[spec.env];
    if (v !== undefined && v !== '') raw.set(name, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') throw new OptionsError(usage());
    if (!arg.startsWith('--')) throw new OptionsError(`unexpected argument "${arg}"\n\n${usage()}`);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) { value = name.slice(eq + 1); name = name.slice(0, eq); }
    const spec = FLAGS[name];
    if (!spec) throw new OptionsError(`unknown flag --${name}\n\n${usage()}`);
    if (spec.kind === 'bool') { raw.set(name, value ?? 'true'); continue; }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new OptionsError(`--${name} needs a value`);
    }
    raw.set(name, value);
  }
  const str = (n: string) => raw.get(n);
  const int = (n: string, dflt: number, min: number) => (raw.has(n) ? parseInt10(raw.get(n)!, `--${n}`, min) : dflt);
  const sipListen = raw.has('sip-listen') ? parseHostPort(raw.get('sip-listen')!, '--sip-listen') : { host: '0.0.0.0', port: 5060 };
  const kube = /^(1|true|yes)$/i.test(raw.get('kube') ?? 'false');
  const sources = [raw.has('manifests'), raw.has('config-dir'), kube].filter(Boolean).length;
  if (sources === 0) throw new OptionsError(`one config source is required: --manifests DIR, --config-dir DIR or --kube\n\n${usage()}`);
  if (sources > 1) throw new OptionsError('choose one config source: --manifests, --config-dir or --kube');
  let advertise = str('advertise');
  if (!advertise) {
    if (sipListen.host === '0.0.0.0' || sipListen.host === '::') throw new OptionsError('--advertise is required when --sip-listen binds a wildcard address (carriers must be told a reachable address)');
    advertise = sipListen.host;
  }
  return {
    manifests: str('manifests'),
    configDir: str('config-dir'),
    kube,
    kubeNamespace: str('kube-namespace'),
    sipListen,
    advertise,
    rtpPorts: raw.has('rtp-ports') ? parseRange(raw.get('rtp-ports')!, '--rtp-ports') : { lo: 20000, hi: 29999 },
    httpListen: raw.has('http-listen') ? parseHostPort(raw.get('http-listen')!, '--http-listen') : { host: '0.0.0.0', port: 8080 },
    sipDomain: str('sip-domain') ?? 'sip.local',
    lockout: { threshold: int('lockout-threshold', 10, 1), windowSec: int('lockout-window', 60, 1), durationSec: int('lockout-duration', 60, 1) },
    drainGraceSec: int('drain-grace', 3600, 0),
    nonceKey: str('nonce-key'),
    mediaTimeoutSec: int('media-timeout', 60, 1),
    mediaHoldTimeoutSec: int('media-hold-timeout', 600, 0),
    sipTcpMessageTimeoutSec: int('sip-tcp-message-timeout', 10, 1),
    sessionTimer: sessionTimerFlags(int('session-expires', 1800, 1), int('min-se', 90, 1)),
    maxCallDurationSec: int('max-call-duration', 14400, 0),
    streamReconnectAttempts: int('stream-reconnect-attempts', 2, 0),
    sipTls: sipTlsFlags(raw, sipListen, int),
    srtp: srtpPolicy(str('srtp')),
    rtpSendSilence: /^(1|true|yes)$/i.test(raw.get('rtp-send-silence') ?? 'true'),
    ...recognizerFlags(raw),
    ...ttsFlags(raw, int('tts-timeout', 5, 1)),
    ...recordingFlags(raw),
  };
}

/**
 * An external service's flags: its URL (`--<prefix>-url`, one of `schemes`) and the flags that only
 * mean something with it; undefined without a URL (and then none of the others may be set).
 */
function serviceFlags(prefix: string, schemes: readonly string[], raw: Map<string, string>, dependents: readonly string[]): { url: string; authorization?: string } | undefined {
  const url = raw.get(`${prefix}-url`);
  if (!url) {
    const stray = dependents.find((n) => raw.has(n));
    if (stray) throw new OptionsError(`--${stray} needs --${prefix}-url`);
    return undefined;
  }
  let u: URL;
  try { u = new URL(url); } catch { throw new OptionsError(`--${prefix}-url: not a URL: "${url.slice(0, 200)}"`); }
  if (!schemes.includes(u.protocol)) throw new OptionsError(`--${prefix}-url: expected ${schemes.map((p) => `${p}//`).join(' or ')}, got ${u.protocol}`);
  const authorization = raw.get(`${prefix}-authorization`);
  if (authorization !== undefined && /[\r\n]/.test(authorization)) throw new OptionsError(`--${prefix}-authorization: must be one line`);
  return { url, ...(authorization ? { authorization } : {}) };
}

function ttsFlags(raw: Map<string, string>, timeoutSec: number): { tts?: MediaPodOptions['tts'] } {
  const svc = serviceFlags('tts', ['http:', 'https:'], raw, ['tts-authorization', 'tts-timeout']);
  return svc ? { tts: { ...svc, timeoutSec } } : {};
}

function recordingFlags(raw: Map<string, string>): { recording?: MediaPodOptions['recording'] } {
  const svc = serviceFlags('recording', ['http:', 'https:'], raw, ['recording-authorization', 'recording-spool-dir']);
  return svc ? { recording: { ...svc, spoolDir: raw.get('recording-spool-dir') ?? os.tmpdir() } } : {};
}

function recognizerFlags(raw: Map<string, string>): { speechRecognizer?: MediaPodOptions['speechRecognizer'] } {
  const svc = serviceFlags('speech-recognizer', ['ws:', 'wss:'], raw, ['speech-recognizer-authorization']);
  return svc ? { speechRecognizer: svc } : {};
}

function srtpPolicy(text: string | undefined): 'off' | 'optional' | 'required' {
  const v = (text ?? 'optional').toLowerCase();
  if (v === 'off' || v === 'optional' || v === 'required') return v;
  throw new OptionsError(`--srtp: expected off, optional or required, got "${text}"`);
}

const TLS_ONLY_FLAGS = ['sip-tls-port', 'sip-tls-ca', 'sip-tls-require-client-cert', 'sip-tls-reload-interval'];

function sipTlsFlags(raw: Map<string, string>, sipListen: HostPort, int: (n: string, dflt: number, min: number) => number): SipTlsFlags | undefined {
  const certFile = raw.get('sip-tls-cert');
  const keyFile = raw.get('sip-tls-key');
  if (!certFile && !keyFile) {
    const stray = TLS_ONLY_FLAGS.filter((n) => raw.has(n));
    if (stray.length > 0) throw new OptionsError(`${stray.map((n) => `--${n}`).join(', ')} need(s) --sip-tls-cert and --sip-tls-key (TLS is on only with both)`);
    return undefined;
  }
  // Fail closed: told to run TLS, the pod does not start without it.
  if (!certFile) throw new OptionsError('--sip-tls-key is set but --sip-tls-cert is not: SIP over TLS needs both');
  if (!keyFile) throw new OptionsError('--sip-tls-cert is set but --sip-tls-key is not: SIP over TLS needs both');
  const port = int('sip-tls-port', 5061, 0);
  if (port > 65535) throw new OptionsError(`--sip-tls-port: port ${port} is out of range`);
  if (port !== 0 && port === sipListen.port) throw new OptionsError(`--sip-tls-port ${port} is the --sip-listen port, which UDP and TCP already use`);
  return {
    port, certFile, keyFile, ...(raw.get('sip-tls-ca') ? { caFile: raw.get('sip-tls-ca')! } : {}),
    requireClientCert: /^(1|true|yes)$/i.test(raw.get('sip-tls-require-client-cert') ?? 'false'),
    reloadIntervalSec: int('sip-tls-reload-interval', 10, 1),
  };
}

function sessionTimerFlags(maxSeSec: number, minSeSec: number): { maxSeSec: number; minSeSec: number } {
  if (maxSeSec < minSeSec) throw new OptionsError(`--session-expires (${maxSeSec}) must not be below --min-se (${minSeSec})`);
  return { maxSeSec, minSeSec };
}
