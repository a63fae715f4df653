// Where events go (stdout or --output-file), with exact byte accounting for the output budget.
import { openSync, writeSync, closeSync, fsyncSync } from "node:fs";
import { OutputClosedError, type EventSink } from "../session/event-sink";
export { OutputClosedError } from "../session/event-sink";

export class OutputSink implements EventSink {
  bytesWritten = 0;
  /** Called around each write, e.g. to lift a status line off a terminal shared with stderr. */
  around?: { before(): void; after(): void };
  private fd: number;
  private readonly ownsFd: boolean;

  constructor(readonly path: string | undefined, readonly limit: number) {
    if (path) {
      this.fd = openSync(path, "w", 0o600);
      this.ownsFd = true;
    } else {
      this.fd = 1;
      this.ownsFd = false;
    }
  }

  /**
   * Write whole lines while they fit under the limit. Returns false when the budget would be
   * exceeded (the lines that fit are written; the rest are not).
   */
  writeLines(lines: string[]): boolean {
    if (!lines.length) return true;
    // Common case first (hot path): the whole batch fits, so encode it once, no per-line sizing.
    const all = Buffer.from(lines.join("\n") + "\n");
    if (this.bytesWritten + all.length <= this.limit) {
      // Lift the status line first on this path too: a row written after it shares its line.
      this.around?.before();
      this.writeAll(all);
      this.around?.after();
      return true;
    }
    let chunk = "";
    let chunkBytes = 0;
    let fits = true;
    for (const l of lines) {
      const b = Buffer.byteLength(l) + 1;
      if (this.bytesWritten + chunkBytes + b > this.limit) {
        fits = false;
        break;
      }
      chunk += l + "\n";
      chunkBytes += b;
    }
    if (chunkBytes) {
      this.around?.before();
      this.writeAll(Buffer.from(chunk));
      this.around?.after();
    }
    return fits;
  }

  private writeAll(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(this.fd, buf, off, buf.length - off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EAGAIN") {
          Bun.sleepSync(1);
          continue;
        }
        if (code === "EPIPE") throw new OutputClosedError();
        throw e;
      }
    }
    this.bytesWritten += buf.length;
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
