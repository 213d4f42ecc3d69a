/**
 * The certificate and key of the SIP TLS listener: read from files and checked before the pod
 * starts (so it fails closed), and re-read on a bounded poll so a renewed certificate (a
 * cert-manager Secret, swapped by kubelet through its `..data` symlink) serves new connections
 * without a restart. Nothing here ever logs or reports key material.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { createLogger, type Logger } from '@sipflow/operator/log';
import { systemClock, type Clock, type TimerHandle } from '../../clock.js';

export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
  /** Extra trusted CAs (client certificates, servers the pod connects to). */
  ca?: Buffer;
}

export interface TlsCredentialFiles {
  certFile: string;
  keyFile: string;
  caFile?: string;
}

export type TlsCredentialsProblem = 'unreadable' | 'invalid' | 'mismatch';

/** Credentials that cannot be used; `problem` and `file` let callers word the error, never the key. */
export class TlsCredentialsError extends Error {
  override readonly name = 'TlsCredentialsError';
  constructor(message: string, readonly problem: TlsCredentialsProblem, readonly file?: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

function opensslCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e.code === 'string' ? e.code : typeof e.message === 'string' ? e.message : 'unknown error';
}

/** Throws TlsCredentialsError unless cert and key parse as PEM and belong together. */
export function checkTlsCredentials(c: TlsCredentials, files?: Partial<TlsCredentialFiles>): void {
  const certName = files?.certFile ?? 'certificate';
  const keyName = files?.keyFile ?? 'key';
  // Each part on its own first, so the error can say which file is wrong.
  try { createSecureContext({ cert: c.cert }); } catch (err) {
    throw new TlsCredentialsError(`TLS certificate ${certName} is not a usable PEM certificate (${opensslCode(err)})`, 'invalid', files?.certFile);
  }
  try { createSecureContext({ key: c.key }); } catch (err) {
    throw new TlsCredentialsError(`TLS key ${keyName} is not a usable unencrypted PEM private key (${opensslCode(err)})`, 'invalid', files?.keyFile);
  }
  if (c.ca) {
    try { createSecureContext({ ca: c.ca }); } catch (err) {
      throw new TlsCredentialsError(`TLS CA file ${files?.caFile ?? ''} is not a usable PEM certificate list (${opensslCode(err)})`, 'invalid', files?.caFile);
    }
  }
  try { createSecureContext({ cert: c.cert, key: c.key }); } catch (err) {
    throw new TlsCredentialsError(`TLS certificate ${certName} does not belong to the private key ${keyName} (${opensslCode(err)})`, 'mismatch', files?.certFile);
  }
}

async function readOne(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new TlsCredentialsError(`cannot read TLS ${what} ${file}: ${opensslCode(err)}`, 'unreadable', file, { cause: err });
  }
}

/** Reads and checks the files; throws TlsCredentialsError with the path and the problem. */
export async function readTlsCredentials(files: TlsCredentialFiles): Promise<TlsCredentials> {
  const [cert, key, ca] = await Promise.all([
    readOne(files.certFile, 'certificate'), readOne(files.keyFile, 'key'),
    files.caFile ? readOne(files.caFile, 'CA file') : Promise.resolve(undefined),
  ]);
  const c: TlsCredentials = ca ? { cert, key, ca } : { cert, key };
  checkTlsCredentials(c, files);
  return c;
}

/** Public facts of the (first) certificate, fit for a log line. */
export function describeCertificate(cert: Buffer): { subject?: string; validTo?: string; fingerprint256?: string } {
  try {
    const x = new X509Certificate(cert);
    return { subject: x.subject.replace(/\n/g, ', '), validTo: x.validTo, fingerprint256: x.fingerprint256 };
  } catch {
    return {};
  }
}

function fingerprint(c: TlsCredentials): string {
  const h = createHash('sha256');
  for (const b of [c.cert, c.key, c.ca ?? Buffer.alloc(0)]) h.update(String(b.length)).update(':').update(b);
  return h.digest('hex');
}

export interface TlsCredentialsWatcherOptions {
  /** Credentials already in use (their files are not reported as a change). */
  initial: TlsCredentials;
  /** Takes new credentials into use; a throw counts as a failed reload. */
  apply: (c: TlsCredentials) => void;
  /** Bounded poll interval. Default 10 s. */
  pollMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export type TlsReloadOutcome = 'unchanged' | 'reloaded' | 'failed';

/**
 * Polls the credential files (a poll, not fs.watch: a kubelet symlink swap replaces the
 * directory entry a watch would follow) and applies changed ones. A failed reload keeps the
 * current credentials and is logged once per distinct file state, not on every poll.
 */
export class TlsCredentialsWatcher {
  private readonly clock: Clock;
  private readonly log: Logger;
  /** The file state last looked at, and the one in use: neither is acted on again. */
  private lastSeen: string;
  private inUse: string;
  private timer?: TimerHandle;
  private running = false;
  private busy?: Promise<TlsReloadOutcome>;

  constructor(private readonly files: TlsCredentialFiles, private readonly o: TlsCredentialsWatcherOptions) {
    this.clock = o.clock ?? systemClock;
    this.log = o.logger ?? createLogger('sip.tls');
    this.lastSeen = fingerprint(o.initial);
    this.inUse = this.lastSeen;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = this.clock.setTimeout(() => { void this.checkNow().finally(() => this.schedule()); }, this.o.pollMs ?? 10_000);
  }

  /** Reads the files once and applies them when they changed. */
  checkNow(): Promise<TlsReloadOutcome> {
    this.busy ??= this.check().finally(() => { this.busy = undefined; });
    return this.busy;
  }

  private async check(): Promise<TlsReloadOutcome> {
    let creds: TlsCredentials | undefined;
    let state: string;
    let failure: TlsCredentialsError | undefined;
    try {
      const [cert, key, ca] = await Promise.all([
        readOne(this.files.certFile, 'certificate'), readOne(this.files.keyFile, 'key'),
        this.files.caFile ? readOne(this.files.caFile, 'CA file') : Promise.resolve(undefined),
      ]);
      creds = ca ? { cert, key, ca } : { cert, key };
      state = fingerprint(creds);
    } catch (err) {
      failure = err instanceof TlsCredentialsError ? err : new TlsCredentialsError(String(err), 'unreadable');
      state = `unreadable:${failure.file ?? ''}:${failure.message}`;
    }
    if (state === this.lastSeen) return 'unchanged';
    this.lastSeen = state;
    // Back to the pair in use after a broken moment (a half-written renewal): nothing to do.
    if (state === this.inUse) return 'unchanged';
    if (creds && !failure) {
      try {
        checkTlsCredentials(creds, this.files);
        this.o.apply(creds);
      } catch (err) {
        failure = err instanceof TlsCredentialsError ? err : new TlsCredentialsError(`TLS credentials were refused: ${opensslCode(err)}`, 'invalid');
      }
    }
    if (failure) {
      this.log.warn('sip tls credentials reload failed; the current ones stay in use', { problem: failure.problem, file: failure.file, error: failure.message });
      return 'failed';
    }
    this.inUse = state;
    this.log.info('sip tls credentials reloaded', { certFile: this.files.certFile, ...describeCertificate(creds!.cert) });
    return 'reloaded';
  }
}
