/**
 * Where the operator's API credentials come from: an explicit kubeconfig file, else $KUBECONFIG,
 * else the in-cluster service account, else ~/.kube/config (client-node's default order).
 */
import { createHash } from 'node:crypto';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else if (!process.env.KUBECONFIG && process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error(`no current cluster in the kubeconfig${path ? ` ${path}` : ''}`);
  reuseConnections(kc);
  return kc;
}

/** Distinct TLS identities kept at once (a rotated client certificate makes a new one). */
const MAX_POOLED_AGENTS = 4;

function agentKey(o: https.AgentOptions): string {
  const part = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('base64') : Array.isArray(v) ? v.map(part).join(',') : String(v ?? ''));
  return createHash('sha256')
    .update([o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername].map(part).join('\u0000'))
    .digest('hex');
}

/**
 * client-node 1.4 gives every API request a brand-new https.Agent (applySecurityAuthentication),
 * so each request builds a TLS context from the PEMs and does a full handshake on a new
 * connection. Under load (thousands of status writes at start-up) that handshake work was most of
 * the operator's CPU and slowed the API server too. Requests made with the same TLS identity
 * share one keep-alive agent instead. Proxy agents are left as client-node made them.
 */
export function reuseConnections(kc: KubeConfig): void {
  const pool = new Map<string, https.Agent>();
  const original = kc.applySecurityAuthentication.bind(kc);
  kc.applySecurityAuthentication = async (context) => {
    await original(context);
    // node-fetch asks for gzip, and the API server compresses every response over 128 KiB (list
    // pages, applied shards): CPU on both ends and inflate buffers in the operator's malloc heap, for
    // traffic that stays inside the cluster. Plain JSON it is.
    context.setHeaderParam('Accept-Encoding', 'identity');
    const fresh = context.getAgent();
    if (!fresh || Object.getPrototypeOf(fresh) !== https.Agent.prototype) return;
    const options = (fresh as https.Agent).options;
    const key = agentKey(options);
    let agent = pool.get(key);
    if (!agent) {
      agent = new https.Agent({ ...options, keepAlive: true });
      pool.set(key, agent);
      // Agents of an identity no longer used close their idle sockets; in-flight requests finish.
      if (pool.size > MAX_POOLED_AGENTS) {
        const [oldKey, old] = pool.entries().next().value as [string, https.Agent];
        pool.delete(oldKey);
        setTimeout(() => old.destroy(), 120_000).unref();
      }
    }
    context.setAgent(agent);
  };
}
