// Where events go (stdout or --output-file), with exact byte accounting for the output budget.
import { writeSync, closeSync, fsyncSync, fstatSync, ftruncateSync } from "node:fs";
import { openOutputFile } from "../files/regular-file";
import { OutputClosedError, OutputWriteError, type EventSink } from "../session/event-sink";
export { OutputClosedError, OutputWriteError } from "../session/event-sink";

export class OutputSink implements EventSink {
  bytesWritten = 0;
  /** Called around each write, e.g. to lift a status line off a terminal shared with stderr. */
  around?: { before(): void; after(): void };
  private fd: number;
  private readonly ownsFd: boolean;

  constructor(readonly path: string | undefined, readonly limit: number) {
    if (path) {
      this.fd = openOutputFile(path, 0o600);
      this.ownsFd = true;
    } else {
      this.fd = 1;
      this.ownsFd = false;
    }
  }

  /**
   * Write whole lines while they fit under the limit; returns how many were written (fewer than
   * given when the budget would be exceeded). A write that fails part-way never leaves a partial
   * line: a regular file is cut back to its last whole line, and the error says how many whole
   * lines of the batch made it (OutputClosedError for a closed reader, OutputWriteError otherwise).
   */
  writeLines(lines: string[]): number {
    if (!lines.length) return 0;
    // Common case first (hot path): the whole batch fits, so encode it once, no per-line sizing.
    const all = Buffer.from(lines.join("\n") + "\n");
    if (this.bytesWritten + all.length <= this.limit) {
      // Lift the status line first on this path too: a row written after it shares its line.
      this.around?.before();
      this.writeAll(all);
      this.around?.after();
      return lines.length;
    }
    let chunk = "";
    let chunkBytes = 0;
    let n = 0;
    for (const l of lines) {
      const b = Buffer.byteLength(l) + 1;
      if (this.bytesWritten + chunkBytes + b > this.limit) break;
      chunk += l + "\n";
      chunkBytes += b;
      n++;
    }
    if (chunkBytes) {
      this.around?.before();
      try {
        this.writeAll(Buffer.from(chunk));
      } finally {
        this.around?.after();
      }
    }
    return n;
  }

  private writeAll(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(this.fd, buf, off, buf.length - off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? "EIO";
        if (code === "EAGAIN") {
          Bun.sleepSync(1);
          continue;
        }
        const whole = off > 0 ? buf.lastIndexOf(0x0a, off - 1) + 1 : 0; // bytes of the batch up to its last whole line
        const lines = countNewlines(buf, whole);
        this.bytesWritten += whole;
        if (code === "EPIPE") throw new OutputClosedError(lines);
        this.cutPartialLine(off - whole);
        throw new OutputWriteError(this.path ?? "standard output", code, lines);
      }
    }
    this.bytesWritten += buf.length;
  }

  /** Remove the `partial` bytes of an unfinished line from the end of a regular file. */
  private cutPartialLine(partial: number): void {
    if (partial <= 0) return;
    try {
      const st = fstatSync(this.fd);
      if (st.isFile()) ftruncateSync(this.fd, Math.max(0, st.size - partial));
    } catch {
      /* nothing more can be done on a failing device; the error is reported either way */
    }
  }

  close(): void {
    if (this.ownsFd && this.fd >= 0) {
      try {
        fsyncSync(this.fd);
      } catch {
        /* a pipe or special file */
      }
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}

function countNewlines(buf: Buffer, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i >= 0 && i < end; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}
