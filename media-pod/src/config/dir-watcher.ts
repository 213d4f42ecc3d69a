/**
 * Notices changes below a directory: fs.watch for speed, plus a bounded poll of names, sizes,
 * modification times and symlink targets as the safety net — kubelet swaps mounted volumes by
 * renaming a `..data` symlink, which some watchers miss.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface DirWatcherOptions { pollMs?: number; debounceMs?: number; maxEntries?: number }

export class DirWatcher {
  private watcher: fs.FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private signature = '';
  private stopped = false;

  constructor(private readonly dir: string, private readonly onChange: () => void, private readonly opts: DirWatcherOptions = {}) {}

  start(): void {
    this.signature = this.computeSignature();
    try {
      this.watcher = fs.watch(this.dir, { persistent: false }, () => this.schedule());
      this.watcher.on('error', () => { this.watcher?.close(); this.watcher = undefined; });
    } catch { /* the poll still covers it */ }
    this.poll = setInterval(() => {
      const sig = this.computeSignature();
      if (sig !== this.signature) this.schedule();
    }, this.opts.pollMs ?? 1000);
    this.poll.unref();
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.signature = this.computeSignature();
      if (!this.stopped) this.onChange();
    }, this.opts.debounceMs ?? 150);
    this.debounce.unref();
  }

  private computeSignature(): string {
    const parts: string[] = [];
    const max = this.opts.maxEntries ?? 10_000;
    const walk = (d: string, depth: number) => {
      let names: string[];
      try { names = fs.readdirSync(d).sort(); } catch { parts.push(`!${d}`); return; }
      for (const name of names) {
        if (parts.length >= max) return;
        const p = path.join(d, name);
        try {
          const l = fs.lstatSync(p);
          if (l.isSymbolicLink()) parts.push(`${p}->${fs.readlinkSync(p)}`);
          const st = fs.statSync(p);
          if (st.isDirectory()) { if (depth < 3 && !l.isSymbolicLink()) walk(p, depth + 1); }
          else parts.push(`${p}:${st.size}:${st.mtimeMs}`);
        } catch { parts.push(`?${p}`); }
      }
    };
    walk(this.dir, 0);
    return parts.join('\n');
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
  }
}
