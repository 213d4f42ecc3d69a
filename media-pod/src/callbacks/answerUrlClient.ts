/**
 * Fetches Plivo XML from an application's answer URL (and redirect/action URLs): one retry on
 * transient failures, then the fallback answer URL with the same parameters; reports why both
 * failed so the call can end with 7011 (unreachable) or 8011 (invalid XML).
 */
import type { Logger } from '@sipflow/operator/log';
import type { RoutingApp } from '@sipflow/operator/contract/types';
import { CallbackTransport, redactUrl, type CallbackFailureCause, type CallbackTransportOptions, type HttpMethod } from './transport.js';

export type XmlPurpose = 'answer' | 'fallback' | 'redirect' | 'action';

export interface FetchXmlRequest {
  url: string;
  method: HttpMethod;
  params: Readonly<Record<string, string>>;
  authToken?: string;
  purpose: XmlPurpose;
}

interface AttemptInfo { elapsedMs: number; attempts: number; retriedAfter?: CallbackFailureCause }

export type FetchXmlResult =
  | ({ ok: true; xml: string; url: string; status: number } & AttemptInfo)
  | ({ ok: false; cause: CallbackFailureCause | 'invalid_xml'; detail: string; status?: number; url: string } & AttemptInfo);

export type FetchXmlFailure = Extract<FetchXmlResult, { ok: false }>;

export type AnswerFetchResult =
  | (Extract<FetchXmlResult, { ok: true }> & { source: 'answer' | 'fallback'; primaryFailure?: FetchXmlFailure })
  | {
      ok: false;
      cause: FetchXmlFailure['cause'];
      detail: string;
      /** 7011 Error Reaching Answer URL, or 8011 Invalid Answer XML when a URL answered with bad XML. */
      hangupCauseCode: 7011 | 8011;
      primary: FetchXmlFailure;
      fallback?: FetchXmlFailure;
    };

export interface FetchAnswerOptions {
  authToken?: string;
  /**
   * Checks the XML (e.g. parses it); return a reason to reject it. A rejected answer XML makes
   * the client try the fallback URL, as Plivo does for invalid XML.
   */
  validateXml?: (xml: string) => string | undefined;
  /** For log lines. */
  callUuid?: string;
}

export interface AnswerUrlClientOptions extends CallbackTransportOptions {
  logger?: Logger;
  /** Share pooled connections with other clients. */
  transport?: CallbackTransport;
}

export class AnswerUrlClient {
  private readonly transport: CallbackTransport;
  private readonly ownsTransport: boolean;
  private readonly log: Logger | undefined;

  constructor(opts: AnswerUrlClientOptions = {}) {
    this.transport = opts.transport ?? new CallbackTransport(opts);
    this.ownsTransport = !opts.transport;
    this.log = opts.logger;
  }

  close(): void { if (this.ownsTransport) this.transport.close(); }

  /** One URL, one retry on transient failure. Never throws. */
  async fetchXml(req: FetchXmlRequest): Promise<FetchXmlResult> {
    const r = await this.transport.exchange(req, true);
    if (!r.ok) return r;
    // Strip a UTF-8 BOM; Plivo also trims whitespace around the document.
    const xml = r.body.toString('utf8').replace(/^\uFEFF/, '').trim();
    const base = { url: r.url, status: r.status, elapsedMs: r.elapsedMs, attempts: r.attempts, ...(r.retriedAfter ? { retriedAfter: r.retriedAfter } : {}) };
    if (xml === '') return { ok: false, cause: 'bad_content', detail: 'empty response body', ...base };
    if (!xml.startsWith('<')) {
      return { ok: false, cause: 'bad_content', detail: `response is not XML (content-type ${r.contentType ?? 'none'})`, ...base };
    }
    return { ok: true, xml, ...base };
  }

  /** answer_url, then fallback_answer_url with the same parameters. */
  async fetchAnswer(app: Pick<RoutingApp, 'appId' | 'answerUrl' | 'answerMethod' | 'fallbackAnswerUrl' | 'fallbackMethod'>,
    params: Readonly<Record<string, string>>, opts: FetchAnswerOptions = {}): Promise<AnswerFetchResult> {
    const token = opts.authToken !== undefined ? { authToken: opts.authToken } : {};
    const primary = this.validated(await this.fetchXml({ url: app.answerUrl, method: app.answerMethod, params, purpose: 'answer', ...token }), opts);
    if (primary.ok) return { ...primary, source: 'answer' };
    this.logFailure(app.appId, 'answer', primary, opts.callUuid);
    if (!app.fallbackAnswerUrl) return { ok: false, cause: primary.cause, detail: primary.detail, hangupCauseCode: hangupCodeFor(primary), primary };
    const fb = this.validated(await this.fetchXml({ url: app.fallbackAnswerUrl, method: app.fallbackMethod, params, purpose: 'fallback', ...token }), opts);
    if (fb.ok) return { ...fb, source: 'fallback', primaryFailure: primary };
    this.logFailure(app.appId, 'fallback', fb, opts.callUuid);
    return { ok: false, cause: fb.cause, detail: `answer_url: ${primary.detail}; fallback_answer_url: ${fb.detail}`, hangupCauseCode: hangupCodeFor(fb), primary, fallback: fb };
  }

  private validated(r: FetchXmlResult, opts: FetchAnswerOptions): FetchXmlResult {
    if (!r.ok || !opts.validateXml) return r;
    const why = opts.validateXml(r.xml);
    if (why === undefined) return r;
    const { xml: _xml, ok: _ok, ...rest } = r;
    return { ...rest, ok: false, cause: 'invalid_xml', detail: why };
  }

  private logFailure(appId: string, purpose: XmlPurpose, f: FetchXmlFailure, callUuid: string | undefined): void {
    this.log?.warn('callback fetch failed', {
      appId, purpose, callUuid, url: redactUrl(f.url), cause: f.cause, detail: f.detail, status: f.status, attempts: f.attempts, elapsedMs: f.elapsedMs,
    });
  }
}

function hangupCodeFor(f: FetchXmlFailure): 7011 | 8011 {
  return f.cause === 'invalid_xml' || f.cause === 'bad_content' ? 8011 : 7011;
}
