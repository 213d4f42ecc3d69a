/**
 * The media pod's Prometheus metrics, in one registry per process so tests can build several
 * pods side by side. Label values are bounded: causes and outcomes come from fixed lists.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Buckets of sipflow_media_nodejs_gc_duration_seconds. prom-client's default (1 ms, 10 ms, 100 ms…)
 * puts every scavenge in one bucket, but for audio the difference between a 1 ms and a 4 ms pause
 * is the one-way p99 (media-pod/src/node-flags.ts).
 */
export const GC_PAUSE_BUCKETS_SECONDS = [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.1, 0.5];

export class MediaMetrics {
  readonly registry = new Registry();

  /** Every INVITE that started a dialog attempt, by final outcome. */
  readonly invites = new Counter({
    name: 'sipflow_sip_invites_total',
    help: 'Initial INVITEs by outcome (answered, rejected, canceled, failed).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  /** Rejections with the cause a caller sees in the reason phrase and Warning header. */
  readonly rejections = new Counter({
    name: 'sipflow_sip_rejections_total',
    help: 'Requests rejected before a call started, by cause.',
    labelNames: ['cause'] as const,
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'sipflow_auth_failures_total',
    help: 'Failed authentication attempts by cause.',
    labelNames: ['cause'] as const,
    registers: [this.registry],
  });
  readonly lockouts = new Counter({
    name: 'sipflow_auth_lockouts_total',
    help: 'Source addresses locked out after repeated authentication failures.',
    registers: [this.registry],
  });
  readonly lockedSources = new Gauge({
    name: 'sipflow_auth_locked_sources',
    help: 'Source addresses currently locked out.',
    registers: [this.registry],
  });
  readonly unauthenticatedCalls = new Counter({
    name: 'sipflow_auth_unauthenticated_calls_total',
    help: 'Calls accepted for applications whose sipAuth.type is None.',
    registers: [this.registry],
  });
  readonly activeCalls = new Gauge({
    name: 'sipflow_calls_active',
    help: 'Calls currently in progress on this pod.',
    registers: [this.registry],
  });
  readonly callsEnded = new Counter({
    name: 'sipflow_calls_ended_total',
    help: 'Calls ended, by Plivo hangup cause code.',
    labelNames: ['cause_code'] as const,
    registers: [this.registry],
  });
  readonly answerUrlLatency = new Histogram({
    name: 'sipflow_answer_url_duration_seconds',
    help: 'Time to fetch XML from answer, fallback, redirect and action URLs.',
    labelNames: ['purpose', 'result'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 40],
    registers: [this.registry],
  });
  readonly sipMessages = new Counter({
    name: 'sipflow_sip_messages_total',
    help: 'SIP messages received, by transport and kind (request method or response).',
    labelNames: ['transport', 'kind'] as const,
    registers: [this.registry],
  });

  readonly sipConnectionsClosed = new Counter({
    name: 'sipflow_sip_connections_closed_total',
    help: 'SIP TCP/TLS connections closed, by transport and reason (idle, slow, oversize, framing, limit, peer, error, shutdown, connect_timeout, tls_handshake).',
    labelNames: ['transport', 'reason'] as const,
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'sipflow_config_reloads_total',
    help: 'Config generations seen, by result (applied, refused, unchanged).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly configApps = new Gauge({
    name: 'sipflow_config_applications',
    help: 'Applications in the config being served.',
    registers: [this.registry],
  });
  readonly configLastApplied = new Gauge({
    name: 'sipflow_config_last_applied_timestamp_seconds',
    help: 'When the config being served was applied (Unix time).',
    registers: [this.registry],
  });
  readonly configRefusedActive = new Gauge({
    name: 'sipflow_config_refused',
    help: '1 while the newest config seen was refused and an older one is being served.',
    registers: [this.registry],
  });
  /** Apply time minus the index ConfigMap's last write (managedFields time, 1 s resolution); `--kube` only. */
  readonly configPropagation = new Histogram({
    name: 'sipflow_config_propagation_seconds',
    help: 'Time from the operator writing the routing index to this pod serving it (--kube mode).',
    buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly kubeConnected = new Gauge({
    name: 'sipflow_config_kube_connected',
    help: '1 while both contract watches (ConfigMaps, Secrets) are open (--kube mode).',
    registers: [this.registry],
  });
  readonly kubeWatchRestarts = new Counter({
    name: 'sipflow_config_kube_watch_restarts_total',
    help: 'Contract watch restarts by resource and reason (error, silent).',
    labelNames: ['resource', 'reason'] as const,
    registers: [this.registry],
  });
  readonly streams = new Counter({
    name: 'sipflow_stream_events_total',
    help: 'Audio-stream lifecycle events (started, stopped, dropped, failed, degraded, reconnected).',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });
  readonly speechFallbacks = new Counter({
    name: 'sipflow_tts_fallbacks_total',
    help: 'Speak prompts the external TTS service failed to make, spoken by the built-in voice instead, by cause.',
    labelNames: ['cause'] as const,
    registers: [this.registry],
  });
  readonly speechRecognitions = new Counter({
    name: 'sipflow_speech_recognitions_total',
    help: 'GetInput utterances sent to the speech recognizer, by outcome (recognized, empty, failed, aborted).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly mediaClockStalls = new Counter({
    name: 'sipflow_media_clock_stalls_total',
    help: 'Times the pod\'s 20 ms media pacer was held up for more than 100 ms (event loop blocked, CPU starved, or the VM descheduled) and skipped the ticks it missed.',
    registers: [this.registry],
  });
  readonly mediaFramesSkipped = new Counter({
    name: 'sipflow_media_frames_skipped_total',
    help: 'Outbound 20 ms ticks missed in media pacer stalls, summed over the calls that missed them: gaps callers heard. Queued audio resumes after the gap (see sipflow_media_frames_dropped_total).',
    registers: [this.registry],
  });
  readonly mediaFramesDropped = new Counter({
    name: 'sipflow_media_frames_dropped_total',
    help: 'Queued outbound 20 ms frames discarded after media pacer stalls because the call\'s audio was already held back by 1 s since its last pause: speech callers never heard.',
    registers: [this.registry],
  });
  readonly recordings = new Counter({
    name: 'sipflow_recordings_total',
    help: 'Recordings of <Record> by outcome: stored (uploaded to the recording store) or failed (spooling or every upload attempt failed; the application got an empty RecordUrl).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly streamsActive = new Gauge({
    name: 'sipflow_streams_active',
    help: 'Audio streams to agents currently open.',
    registers: [this.registry],
  });
  /** Added once per call, when it ends (per-packet counting would cost the hot path). */
  readonly rtpPackets = new Counter({
    name: 'sipflow_rtp_packets_total',
    help: 'RTP packets of ended calls: received from callers, sent to them, lost on the way in (never arrived in time), dropped (foreign source, malformed), srtp_rejected (SRTP/SRTCP that failed authentication or was replayed).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly rtcpPackets = new Counter({
    name: 'sipflow_rtcp_packets_total',
    help: 'RTCP packets of ended calls: received from callers, sent to them, and received but unreadable.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly farEndLoss = new Histogram({
    name: 'sipflow_call_far_end_loss_ratio',
    help: 'Fraction of our audio the caller\'s side last reported lost (RTCP receiver report), per ended call that sent one.',
    buckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
    registers: [this.registry],
  });
  readonly roundTrip = new Histogram({
    name: 'sipflow_call_rtt_seconds',
    help: 'Media round-trip time to the caller from RTCP (RFC 3550 §6.4.1), last value per ended call that had one.',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2],
    registers: [this.registry],
  });
  readonly callsWithoutRtp = new Counter({
    name: 'sipflow_calls_without_inbound_rtp_total',
    help: 'Answered calls that ended without a single RTP packet from the caller (firewall, NAT or SDP address trouble).',
    registers: [this.registry],
  });
  readonly draining = new Gauge({
    name: 'sipflow_draining',
    help: '1 while the pod is draining (refusing new calls).',
    registers: [this.registry],
  });

  readonly tlsCertificateExpiry = new Gauge({
    name: 'sipflow_sip_tls_certificate_expiry_timestamp_seconds',
    help: 'When the SIP over TLS certificate in use expires (Unix seconds); absent without TLS.',
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: 'sipflow_media_', gcDurationBuckets: GC_PAUSE_BUCKETS_SECONDS });
    }
  }
}
