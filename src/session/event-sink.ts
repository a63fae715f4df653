// What a session needs from its output, so that the session (below src/output) depends on no
// renderer or sink: src/output implements these (output/sink.ts, output/event-renderer.ts).
import type { DecodedEvent, EventLayout, RecordFn } from "../libbpf/event-reader";
import { EbpfctlError, ExitCode } from "../errors";

/**
 * Where rendered lines go. writeLines returns how many of the lines it wrote whole (all of them,
 * or the ones that fit under the output budget). A line is either written whole or not at all:
 * that is what lets the session count an event delivered only once its line reached the sink.
 */
export interface EventSink {
  writeLines(lines: string[]): number;
  readonly bytesWritten: number;
}

/** Turns decoded events into lines (a table or JSON lines). */
export interface EventRenderer {
  header(): string[];
  render(e: DecodedEvent): string;
  /** A line writer generated for this layout, run on each record's bytes instead of decode + render(); undefined: none. */
  recordLine?(layout: EventLayout): RecordFn<string> | undefined;
}

/** The reader of our output went away (e.g. `| head`): end the session cleanly. */
export class OutputClosedError extends Error {
  readonly code = "EBPFCTL-E0040";
  /** Whole lines of the failed batch that were written before the reader went away. */
  constructor(readonly linesWritten = 0) {
    super("output closed by the reader");
  }
}

/**
 * A write to the output failed (ENOSPC, EIO, EDQUOT, EFBIG…). The sink has already cut off any
 * partial line, so the output ends at the last whole line.
 */
export class OutputWriteError extends EbpfctlError {
  constructor(readonly target: string, readonly errno: string, readonly linesWritten = 0) {
    super(
      "EBPFCTL-E0041",
      `cannot write to ${target}: ${errno}; the output ends at its last whole line and the events not written are counted as dropped_write_error`,
      ExitCode.OUTPUT_WRITE,
      "free space (or quota) on the output's filesystem, or pass --output-file on another one",
    );
    this.name = "OutputWriteError";
  }
}
