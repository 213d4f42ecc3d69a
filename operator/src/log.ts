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

let defaultSink: LogSink = (line) => process.stdout.write(line + '\n');
/** Redirect every logger created afterwards (and the existing ones) — for tests and for capturing. */
export function setLogSink(sink: LogSink): void { defaultSink = sink; }

function scrub(fields: Fields): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_FIELD.test(k)) out[k] = '[redacted]';
    else if (v instanceof Error) out[k] = { name: v.name, message: v.message };
    else out[k] = v;
  }
  return out;
}

class JsonLogger implements Logger {
  constructor(private readonly base: Fields, private readonly min: number) {}
  private write(level: Level, msg: string, fields?: Fields): void {
    if (ORDER[level] < this.min) return;
    const rec = { ts: new Date().toISOString(), level, msg, ...this.base, ...(fields ? scrub(fields) : {}) };
    defaultSink(JSON.stringify(rec));
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
