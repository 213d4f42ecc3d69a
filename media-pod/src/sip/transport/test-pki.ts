/**
 * A throwaway certificate authority for TLS tests, made at run time with the `openssl` binary in
 * a temp directory (no private key is ever committed): a CA and a leaf for 127.0.0.1/localhost
 * usable as server and as client certificate.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestLeaf { cert: Buffer; key: Buffer; certFile: string; keyFile: string }

export interface TestPki {
  dir: string;
  caCert: Buffer;
  caFile: string;
  /** A leaf for IP:127.0.0.1, IP:::1 and DNS:localhost, signed by this CA. */
  leaf: TestLeaf;
  /** Another leaf from the same CA (e.g. for a client). */
  issue(name: string, days?: number): TestLeaf;
  cleanup(): void;
}

let available: boolean | undefined;

/** Whether `openssl` can be run here (tests skip with a reason when not). */
export function opensslAvailable(): boolean {
  if (available === undefined) {
    try { execFileSync('openssl', ['version'], { stdio: 'ignore', timeout: 10_000 }); available = true; } catch { available = false; }
  }
  return available;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

/** `leafDays`: validity of the 127.0.0.1 leaf (default 2), so two PKIs' leaves can expire apart. */
export function createTestPki(label = 'sipflow-test', leafDays = 2): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'sipflow-pki-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=${label} CA`], dir);
  writeFileSync(join(dir, 'leaf.ext'), [
    'subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth, clientAuth', '',
  ].join('\n'));
  let serial = 1;
  const issue = (name: string, days = 2): TestLeaf => {
    const base = name.replace(/[^a-z0-9-]/gi, '_');
    openssl(['req', ...ec, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`], dir);
    openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(serial++),
      '-out', `${base}.crt`, '-days', String(days), '-extfile', 'leaf.ext'], dir);
    const certFile = join(dir, `${base}.crt`);
    const keyFile = join(dir, `${base}.key`);
    return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, keyFile };
  };
  const caFile = join(dir, 'ca.crt');
  return {
    dir, caFile, caCert: readFileSync(caFile), leaf: issue('127.0.0.1', leafDays), issue,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
