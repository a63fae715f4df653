// Reading the end of a log without reading the whole file: chunks backwards from EOF until enough
// newlines have been seen.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

const CHUNK = 8192;

export interface Tail {
  /** Up to n complete lines (without their newline), oldest first. */
  lines: string[];
  /** Bytes after the last newline: "" when the file ends cleanly. */
  partial: string;
  /** File size the tail was read at. */
  size: number;
}

/** The last `n` complete lines of the open file `fd` (pread only; the file offset is untouched). */
export function readTail(fd: number, n: number, size = fstatSync(fd).size): Tail {
  const chunks: Buffer[] = [];
  let pos = size;
  let newlines = 0;
  // n complete lines need n newlines after their starts, plus the one before the first of them.
  while (pos > 0 && newlines <= n) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const r = readSync(fd, buf, got, len - got, pos + got);
      if (r === 0) break;
      got += r;
    }
    for (let i = 0; i < got; i++) if (buf[i] === 0x0a) newlines++;
    chunks.unshift(buf.subarray(0, got));
  }
  const text = Buffer.concat(chunks).toString("utf8");
  const parts = text.split("\n");
  const partial = parts.pop() ?? "";
  // The first part is a line fragment unless we reached the start of the file.
  if (pos > 0) parts.shift();
  return { lines: parts.slice(Math.max(0, parts.length - n)), partial, size };
}

/** readTail on a path; a missing file has no lines. */
export function readTailOfFile(path: string, n: number): Tail {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { lines: [], partial: "", size: 0 };
    throw e;
  }
  try {
    return readTail(fd, n);
  } finally {
    closeSync(fd);
  }
}
