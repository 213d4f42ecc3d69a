/** A Logger that records entries in memory, for tests asserting what was logged. */
import type { Fields, Logger } from '@sipflow/operator/log';

export interface LogEntry { level: string; msg: string; fields: Fields }

export function recordingLogger(entries: LogEntry[] = [], base: Fields = {}): Logger & { entries: LogEntry[] } {
  const at = (level: string) => (msg: string, fields?: Fields): void => { entries.push({ level, msg, fields: { ...base, ...fields } }); };
  return {
    entries,
    debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'),
    child: (f: Fields) => recordingLogger(entries, { ...base, ...f }),
  };
}
