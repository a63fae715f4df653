// libbpf prints warnings through a global callback with a va_list; we format it with the C
// library's vsnprintf and keep the lines, so nothing spills unformatted onto the user's terminal.
import { JSCallback, FFIType, ptr, type Pointer } from "bun:ffi";
import { lib, libc, cstr } from "./ffi";

export type LibbpfLogLevel = "warn" | "info" | "debug";
export interface LibbpfLogLine {
  level: LibbpfLogLevel;
  text: string;
}

const LEVELS: LibbpfLogLevel[] = ["warn", "info", "debug"];
const lines: LibbpfLogLine[] = [];
const MAX_LINES = 2000;
const formatBuf = new Uint8Array(4096);
const formatPtr = ptr(formatBuf);
let callback: JSCallback | undefined;
let keepDebug = false;

/** Install the capture once per process; the callback lives as long as the process (libbpf keeps it). */
export function captureLibbpfLog(opts: { debug?: boolean } = {}): void {
  keepDebug = opts.debug ?? keepDebug;
  if (callback) return;
  callback = new JSCallback(
    (level: number, fmt: Pointer, ap: Pointer) => {
      try {
        const lvl = LEVELS[level] ?? "debug";
        if (lvl === "debug" && !keepDebug) return 0;
        const n = libc.vsnprintf(formatPtr, BigInt(formatBuf.length), fmt, ap);
        if (n < 0) return 0;
        const text = cstr(formatPtr).replace(/\n$/, "");
        if (lines.length >= MAX_LINES) lines.shift();
        lines.push({ level: lvl, text });
      } catch {
        // Never throw into C.
      }
      return 0;
    },
    { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  );
  lib().libbpf_set_print(callback.ptr!);
}

/** Lines captured since the last drain. */
export function drainLibbpfLog(): LibbpfLogLine[] {
  return lines.splice(0, lines.length);
}
