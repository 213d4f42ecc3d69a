/**
 * Structured logging shared by the operator and media pods: one JSON object per line on
 * stdout. Fields whose names mark a secret are replaced before anything is written, so a
 * password, HA1 or digest response can never reach a log line by accident.
 */

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_FIELD = /pass(word)?|secret|token|ha1|authorization|^response$|digest|nonce_key|signature/i;

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

export type LogSink = (line: string) => void;

/*
 * Lines for stdout are gathered for at most STDOUT_FLUSH_MS and written with one write: on a
 * busy media pod a write(2) per line cost more than building the lines. Nothing is reordered,
 * a large backlog is written at once, and whatever is pending is written when the process exits
 * (also after an uncaught exception).
 */
const STDOUT_FLUSH_MS = 10;
const STDOUT_FLUSH_BYTES = 64 * 1024;
let pending = '';
let flushTimer: ReturnType<typeof setTimeout> | undefined;
let exitHookInstalled = false;

function flushStdout(): void {
  if (flushTimer !== undefined) { clearTimeout(flushTimer); flushTimer = undefined; }
  if (pending === '') return;
  const chunk = pending;
  pending = '';
  process.stdout.write(chunk);
}

function stdoutSink(line: string): void {
  pending += line + '\n';
  if (pending.length >= STDOUT_FLUSH_BYTES) { flushStdout(); return; }
  if (flushTimer === undefined) {
    flushTimer = setTimeout(flushStdout, STDOUT_FLUSH_MS);
    flushTimer.unref();
  }
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', flushStdout);
  }
}

let defaultSink: LogSink = stdoutSink;
/** Redirect every logger created afterwards (and the existing ones) — for tests and for capturing. */
export function setLogSink(sink: LogSink): void {
  flushStdout();
  defaultSink = sink;
}

/*
 * Whether a field name marks a secret, by name. The same few names recur on every line, so the
 * answer is remembered (bounded: past the limit names are tested each time).
 */
const SECRET_CACHE_LIMIT = 1024;
const secretByName = new Map<string, boolean>();

function isSecretField(name: string): boolean {
  let secret = secretByName.get(name);
  if (secret === undefined) {
    secret = SECRET_FIELD.test(name);
    if (secretByName.size < SECRET_CACHE_LIMIT) secretByName.set(name, secret);
  }
  return secret;
}

function scrub(fields: Fields): Fields {
  const out: Fields = {};
  for (const k in fields) {
    if (!Object.prototype.hasOwnProperty.call(fields, k)) continue;
    const v = fields[k];
    if (isSecretField(k)) out[k] = '[redacted]';
    else if (v instanceof Error) out[k] = { name: v.name, message: v.message };
    else out[k] = v;
  }
  return out;
}

/** Names a line sets before the logger's base fields; a field with one of them takes its place. */
const RECORD_KEYS = new Set(['ts', 'level', 'msg']);

/**
 * Keys that cannot simply be appended to a line: ts/level/msg, and integer-like names, which
 * JavaScript objects (and so the merged record) list first.
 */
function needsMerge(key: string): boolean {
  const c = key.charCodeAt(0);
  return RECORD_KEYS.has(key) || (c >= 48 && c <= 57);
}

function isPrimitive(v: unknown): boolean {
  return v === null || v === undefined || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

class JsonLogger implements Logger {
  /**
   * The base fields already serialised (`"k":v,...`, without braces), when they are all
   * primitives and none needs merging (see needsMerge) — then a line is the prefix plus the
   * line's own fields, which is what serialising the merged record gives as long as no field
   * repeats a base name (checked per line). False when the merged record has to be built;
   * undefined until the first line (many per-call children never write one).
   */
  private baseJson: string | false | undefined;

  constructor(private readonly base: Fields, private readonly min: number) {}

  private prefix(): string | false {
    if (this.baseJson === undefined) {
      const keys = Object.keys(this.base);
      if (keys.every((k) => !needsMerge(k) && isPrimitive(this.base[k]))) {
        const json = JSON.stringify(this.base);
        this.baseJson = json.length > 2 ? json.slice(1, -1) : '';
      } else {
        this.baseJson = false;
      }
    }
    return this.baseJson;
  }

  private write(level: Level, msg: string, fields?: Fields): void {
    if (ORDER[level] < this.min) return;
    const ts = new Date().toISOString();
    const own = fields ? scrub(fields) : undefined;
    const prefix = this.prefix();
    if (prefix !== false && (own === undefined || !this.overlaps(own))) {
      let line = `{"ts":"${ts}","level":"${level}","msg":${JSON.stringify(msg)}`;
      if (prefix !== '') line += ',' + prefix;
      if (own !== undefined) {
        const json = JSON.stringify(own);
        if (json.length > 2) line += ',' + json.slice(1, -1);
      }
      defaultSink(line + '}');
      return;
    }
    const rec = { ts, level, msg, ...this.base, ...(own ?? {}) };
    defaultSink(JSON.stringify(rec));
  }

  private overlaps(own: Fields): boolean {
    for (const k in own) if (needsMerge(k) || Object.prototype.hasOwnProperty.call(this.base, k)) return true;
    return false;
  }

  debug(msg: string, fields?: Fields): void { this.write('debug', msg, fields); }
  info(msg: string, fields?: Fields): void { this.write('info', msg, fields); }
  warn(msg: string, fields?: Fields): void { this.write('warn', msg, fields); }
  error(msg: string, fields?: Fields): void { this.write('error', msg, fields); }
  child(fields: Fields): Logger { return new JsonLogger({ ...this.base, ...scrub(fields) }, this.min); }
}

export function createLogger(component: string, level: Level = (process.env.SIPFLOW_LOG_LEVEL as Level) || 'info'): Logger {
  return new JsonLogger({ component }, ORDER[level] ?? ORDER.info);
}
