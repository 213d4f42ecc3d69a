/**
 * `sipflow-operator run`: the controller process. Every flag also comes from the environment
 * (flags win), so the same image runs from a Deployment's env or a developer's shell. Runs
 * until SIGTERM/SIGINT (or the injected signal), then shuts down gracefully.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../log.js';
import { OperatorMetrics, startProbeServer } from '../metrics.js';
import { SipflowOperator, defaultIdentity } from '../controllers/operator.js';
import { loadKubeConfig } from '../runtime/kubeconfig.js';

export interface RunIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Stops the operator (tests); SIGTERM/SIGINT always do. */
  signal?: AbortSignal;
  /** Told the bound probe address once listening (tests use port 0). */
  onListening?: (address: string) => void;
}

export const RUN_USAGE =
  'sipflow-operator run [--namespace NS] [--sip-domain NAME] [--realm NAME] [--kubeconfig PATH] [--http-listen HOST:PORT] ' +
  '[--leader-elect] [--lease-name NAME] [--identity ID]\n' +
  '             env: POD_NAMESPACE, SIPFLOW_SIP_DOMAIN, SIPFLOW_REALM, KUBECONFIG, SIPFLOW_HTTP_LISTEN, SIPFLOW_LEADER_ELECT, SIPFLOW_LEASE_NAME, POD_NAME';

export class RunUsageError extends Error {}

export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) throw new RunUsageError(`--http-listen wants HOST:PORT (e.g. 0.0.0.0:8080 or [::]:8080), got ${JSON.stringify(s)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v);
}

export async function runOperator(args: string[], io: RunIo): Promise<number> {
  const env = process.env;
  const { values } = parseArgs({
    args,
    options: {
      namespace: { type: 'string' },
      'sip-domain': { type: 'string' },
      realm: { type: 'string' },
      kubeconfig: { type: 'string' },
      'http-listen': { type: 'string' },
      'leader-elect': { type: 'boolean' },
      'lease-name': { type: 'string' },
      identity: { type: 'string' },
    },
  });
  const namespace = values.namespace ?? env.POD_NAMESPACE ?? 'sipflow-system';
  const sipDomain = values['sip-domain'] ?? env.SIPFLOW_SIP_DOMAIN ?? 'sip.local';
  const realm = values.realm ?? env.SIPFLOW_REALM;
  const listen = parseListen(values['http-listen'] ?? env.SIPFLOW_HTTP_LISTEN ?? '0.0.0.0:8080');
  const leaderElect = values['leader-elect'] ?? truthy(env.SIPFLOW_LEADER_ELECT);
  const leaseName = values['lease-name'] ?? env.SIPFLOW_LEASE_NAME ?? 'sipflow-operator';
  const identity = values.identity ?? defaultIdentity();
  const kubeconfig = values.kubeconfig;

  const logger = createLogger('operator');
  const kc = loadKubeConfig(kubeconfig);
  const metrics = new OperatorMetrics({ processMetrics: true });
  const op = new SipflowOperator({
    kubeConfig: kc, namespace, sipDomain, ...(realm ? { defaultRealm: realm } : {}), identity,
    ...(leaderElect ? { leaderElection: { leaseName } } : {}),
    logger, metrics,
  });
  const probes = await startProbeServer({ ...listen, metrics, healthz: () => op.healthz(), readyz: () => op.readyz() });
  io.onListening?.(probes.address);
  logger.info('starting', { namespace, sipDomain, identity, leaderElect, http: probes.address, server: kc.getCurrentCluster()?.server });

  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    logger.info('signal received; shutting down', { signal: sig });
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  io.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  if (io.signal?.aborted) stop.abort();
  try {
    op.start().catch((e: unknown) => logger.error('start failed', { error: e instanceof Error ? e.message : String(e) }));
    await new Promise<void>((resolve) => {
      if (stop.signal.aborted) resolve();
      else stop.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await op.stop();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await probes.close();
  }
  return 0;
}
