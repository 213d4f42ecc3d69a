/**
 * A minimal WASI preview1 host that keeps the program's files in memory: enough of the
 * interface for command-line tools like flite to run, write their output file and exit.
 * It avoids node:wasi's temp-directory round trip, which needs a writable filesystem (pods
 * commonly run with a read-only root) and leaves files behind when a request dies midway.
 */

import { Wasm, type WasmMemory, type WasmModule } from './wasm.js';

const ERRNO = { SUCCESS: 0, BADF: 8, INVAL: 28, ISDIR: 31, NOENT: 44, NOSPC: 51, NOTDIR: 54, SPIPE: 70, NOTCAPABLE: 76 } as const;
const FILETYPE = { CHARACTER_DEVICE: 2, DIRECTORY: 3, REGULAR_FILE: 4 } as const;
const OFLAGS = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const;
const FDFLAG_APPEND = 1;
const PREOPEN_FD = 3;

class MemFile {
  data = new Uint8Array(4096);
  size = 0;
  bytes(): Uint8Array { return this.data.slice(0, this.size); }
}

type Descriptor =
  | { kind: 'stdio'; which: 0 | 1 | 2 }
  | { kind: 'dir' }
  | { kind: 'file'; file: MemFile; pos: number; append: boolean };

class WasiExit {
  constructor(readonly code: number) {}
}

export interface WasiRunOptions {
  /** Guest path of the single writable directory, e.g. "/out". */
  preopenDir: string;
  /** Largest file the program may write; writes beyond fail with ENOSPC. */
  maxFileBytes: number;
  /** stdout/stderr bytes kept (the rest is dropped, the program is not failed). */
  maxOutputBytes?: number;
}

export interface WasiRunResult {
  exitCode: number;
  /** Files created in the preopened directory, by path relative to it. */
  files: Map<string, Uint8Array>;
  stdout: string;
  stderr: string;
}

/** Run a WASI command module to completion on this thread. Traps (other than proc_exit) are thrown. */
export function runWasiCommand(module: WasmModule, args: readonly string[], opts: WasiRunOptions): WasiRunResult {
  const enc = new TextEncoder();
  const argBytes = args.map((a) => enc.encode(a + '\0'));
  const dirName = enc.encode(opts.preopenDir);
  const files = new Map<string, MemFile>();
  const fds = new Map<number, Descriptor>([[0, { kind: 'stdio', which: 0 }], [1, { kind: 'stdio', which: 1 }], [2, { kind: 'stdio', which: 2 }], [PREOPEN_FD, { kind: 'dir' }]]);
  let nextFd = PREOPEN_FD + 1;
  const maxOut = opts.maxOutputBytes ?? 8192;
  const out: [number[], number[]] = [[], []];
  let memory: WasmMemory | undefined = undefined; // set once the instance exists; imports read it lazily
  const view = (): DataView => new DataView(memory!.buffer);
  const bytes = (): Uint8Array => new Uint8Array(memory!.buffer);

  const iovecs = (ptr: number, len: number): Array<[number, number]> => {
    const v = view();
    const list: Array<[number, number]> = [];
    for (let i = 0; i < len; i++) list.push([v.getUint32(ptr + i * 8, true), v.getUint32(ptr + i * 8 + 4, true)]);
    return list;
  };

  const wasi = {
    args_sizes_get(argcPtr: number, bufSizePtr: number): number {
      const v = view();
      v.setUint32(argcPtr, argBytes.length, true);
      v.setUint32(bufSizePtr, argBytes.reduce((n, a) => n + a.length, 0), true);
      return ERRNO.SUCCESS;
    },
    args_get(argvPtr: number, bufPtr: number): number {
      const v = view();
      const m = bytes();
      let p = bufPtr;
      argBytes.forEach((a, i) => { v.setUint32(argvPtr + i * 4, p, true); m.set(a, p); p += a.length; });
      return ERRNO.SUCCESS;
    },
    clock_time_get(id: number, _precision: bigint, timePtr: number): number {
      const ns = id === 0 ? BigInt(Date.now()) * 1_000_000n : process.hrtime.bigint();
      view().setBigUint64(timePtr, ns, true);
      return ERRNO.SUCCESS;
    },
    fd_close(fd: number): number {
      if (fd <= PREOPEN_FD || !fds.has(fd)) return ERRNO.BADF;
      fds.delete(fd);
      return ERRNO.SUCCESS;
    },
    fd_fdstat_get(fd: number, ptr: number): number {
      const d = fds.get(fd);
      if (!d) return ERRNO.BADF;
      const v = view();
      v.setUint8(ptr, d.kind === 'stdio' ? FILETYPE.CHARACTER_DEVICE : d.kind === 'dir' ? FILETYPE.DIRECTORY : FILETYPE.REGULAR_FILE);
      v.setUint16(ptr + 2, d.kind === 'file' && d.append ? FDFLAG_APPEND : 0, true);
      v.setBigUint64(ptr + 8, 0xffffffffffffffffn, true);
      v.setBigUint64(ptr + 16, 0xffffffffffffffffn, true);
      return ERRNO.SUCCESS;
    },
    fd_fdstat_set_flags(fd: number, _flags: number): number {
      return fds.has(fd) ? ERRNO.SUCCESS : ERRNO.BADF;
    },
    fd_prestat_get(fd: number, ptr: number): number {
      if (fd !== PREOPEN_FD) return ERRNO.BADF;
      const v = view();
      v.setUint8(ptr, 0); // preopentype: dir
      v.setUint32(ptr + 4, dirName.length, true);
      return ERRNO.SUCCESS;
    },
    fd_prestat_dir_name(fd: number, ptr: number, len: number): number {
      if (fd !== PREOPEN_FD) return ERRNO.BADF;
      bytes().set(dirName.subarray(0, len), ptr);
      return ERRNO.SUCCESS;
    },
    fd_read(fd: number, iovsPtr: number, iovsLen: number, nreadPtr: number): number {
      const d = fds.get(fd);
      if (!d) return ERRNO.BADF;
      if (d.kind === 'dir') return ERRNO.ISDIR;
      let n = 0;
      if (d.kind === 'file') {
        const m = bytes();
        for (const [buf, len] of iovecs(iovsPtr, iovsLen)) {
          const take = Math.max(0, Math.min(len, d.file.size - d.pos));
          m.set(d.file.data.subarray(d.pos, d.pos + take), buf);
          d.pos += take; n += take;
          if (take < len) break;
        }
      }
      view().setUint32(nreadPtr, n, true); // stdin is always at EOF
      return ERRNO.SUCCESS;
    },
    fd_seek(fd: number, offset: bigint, whence: number, newOffsetPtr: number): number {
      const d = fds.get(fd);
      if (!d) return ERRNO.BADF;
      if (d.kind !== 'file') return ERRNO.SPIPE;
      const base = whence === 0 ? 0 : whence === 1 ? d.pos : whence === 2 ? d.file.size : -1;
      if (base < 0) return ERRNO.INVAL;
      const next = base + Number(offset);
      if (!Number.isSafeInteger(next) || next < 0) return ERRNO.INVAL;
      d.pos = next;
      view().setBigUint64(newOffsetPtr, BigInt(next), true);
      return ERRNO.SUCCESS;
    },
    fd_write(fd: number, iovsPtr: number, iovsLen: number, nwrittenPtr: number): number {
      const d = fds.get(fd);
      if (!d) return ERRNO.BADF;
      if (d.kind === 'dir') return ERRNO.ISDIR;
      const m = bytes();
      let n = 0;
      for (const [buf, len] of iovecs(iovsPtr, iovsLen)) {
        const chunk = m.subarray(buf, buf + len);
        if (d.kind === 'stdio') {
          const sink = out[d.which === 2 ? 1 : 0];
          for (let i = 0; i < chunk.length && sink.length < maxOut; i++) sink.push(chunk[i]!);
        } else {
          const f = d.file;
          if (d.append) d.pos = f.size;
          const end = d.pos + len;
          if (end > opts.maxFileBytes) return ERRNO.NOSPC;
          if (end > f.data.length) {
            const grown = new Uint8Array(Math.min(opts.maxFileBytes, Math.max(end, f.data.length * 2)));
            grown.set(f.data.subarray(0, f.size));
            f.data = grown;
          }
          f.data.set(chunk, d.pos);
          d.pos = end;
          if (end > f.size) f.size = end;
        }
        n += len;
      }
      view().setUint32(nwrittenPtr, n, true);
      return ERRNO.SUCCESS;
    },
    path_open(dirFd: number, _dirflags: number, pathPtr: number, pathLen: number, oflags: number,
      _rightsBase: bigint, _rightsInheriting: bigint, fdflags: number, openedFdPtr: number): number {
      if (dirFd !== PREOPEN_FD) return ERRNO.BADF;
      const path = new TextDecoder().decode(bytes().subarray(pathPtr, pathPtr + pathLen));
      if (path.split('/').includes('..')) return ERRNO.NOTCAPABLE;
      if (oflags & OFLAGS.DIRECTORY) return ERRNO.NOTDIR;
      let file = files.get(path);
      if (file && (oflags & OFLAGS.EXCL) && (oflags & OFLAGS.CREAT)) return 20; // EEXIST
      if (!file) {
        if (!(oflags & OFLAGS.CREAT)) return ERRNO.NOENT;
        file = new MemFile();
        files.set(path, file);
      } else if (oflags & OFLAGS.TRUNC) {
        file.size = 0;
      }
      const fd = nextFd++;
      fds.set(fd, { kind: 'file', file, pos: 0, append: (fdflags & FDFLAG_APPEND) !== 0 });
      view().setUint32(openedFdPtr, fd, true);
      return ERRNO.SUCCESS;
    },
    proc_exit(code: number): never {
      throw new WasiExit(code);
    },
  };

  const instance = new Wasm.Instance(module, { wasi_snapshot_preview1: wasi });
  const exported = instance.exports as { memory?: unknown; _start?: unknown };
  if (!(exported.memory instanceof Wasm.Memory) || typeof exported._start !== 'function') {
    throw new Error('module is not a WASI command (needs exported memory and _start)');
  }
  memory = exported.memory;
  let exitCode = 0;
  try {
    (exported._start as () => void)();
  } catch (e) {
    if (e instanceof WasiExit) exitCode = e.code;
    else throw e;
  }
  const dec = new TextDecoder();
  return {
    exitCode,
    files: new Map([...files].map(([k, f]) => [k, f.bytes()])),
    stdout: dec.decode(new Uint8Array(out[0])),
    stderr: dec.decode(new Uint8Array(out[1])),
  };
}
