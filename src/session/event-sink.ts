// What a session needs from its output, so that the session (below src/output) depends on no
// renderer or sink: src/output implements these (output/sink.ts, output/event-renderer.ts).
import type { DecodedEvent, EventLayout } from "../libbpf/event-reader";

/** Where rendered lines go. writeLines is false when they would exceed the output budget. */
export interface EventSink {
  writeLines(lines: string[]): boolean;
  readonly bytesWritten: number;
}

/** Turns decoded events into lines (a table or JSON lines). */
export interface EventRenderer {
  header(): string[];
  render(e: DecodedEvent): string;
  /** Told the layout of the events it will render, once, before the first (a faster path may be built from it). */
  bindLayout?(layout: EventLayout): void;
}

/** The reader of our output went away (e.g. `| head`): end the session cleanly. */
export class OutputClosedError extends Error {
  readonly code = "EBPFCTL-E0040";
  constructor() {
    super("output closed by the reader");
  }
}
