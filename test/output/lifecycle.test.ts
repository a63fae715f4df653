// Status records by destination: JSON mode a record per interval, a terminal one redrawn line with
// a bar per budget, anything else (a file, a pipe, tee) a plain human line per interval.
import { describe, expect, test } from "bun:test";
import { LifecycleReporter } from "../../src/output/lifecycle";
import type { SessionStatus } from "../../src/session/session";

function capture() {
  let text = "";
  return { stream: { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream, text: () => text };
}

const status: SessionStatus = {
  elapsedMs: 5004,
  rate: 2.97,
  counts: { produced: 11, submitted: 9, droppedRate: 1, droppedRingbuf: 1, sampledOut: 0, delivered: 9 },
  usage: { max_duration: 5004, max_rate: 2.97, max_memory: 2516624, max_cpu: 0.417, max_output: 578 },
  budgets: { max_duration: 3_600_000, max_rate: 5000, max_memory: 64 * 1024 * 1024, max_cpu: 10, max_output: 1024 ** 3 },
};

describe("LifecycleReporter.status", () => {
  test("JSON mode: one status record", () => {
    const out = capture();
    new LifecycleReporter(out.stream, { json: true, color: false, tty: false, session: "s1" }).status(status);
    const rec = JSON.parse(out.text());
    expect(rec).toMatchObject({ kind: "status", session: "s1", delivered: 9, dropped_rate: 1, dropped_ringbuf: 1, rate: 3 });
  });

  test("human mode, not a terminal: a plain line, no JSON and no terminal controls", () => {
    const out = capture();
    const r = new LifecycleReporter(out.stream, { json: false, color: false, tty: false, session: "s1" });
    r.status(status);
    r.status(status);
    const lines = out.text().split("\n").filter(Boolean);
    expect(lines).toEqual([
      "status: 9 delivered, 2 dropped; time 5.0s of 1h, rate 3/s of 5.0k/s, mem 2.4 MiB of 64 MiB, cpu 0.417% of 10%, out 578 B of 1.0 GiB",
      "status: 9 delivered, 2 dropped; time 5.0s of 1h, rate 3/s of 5.0k/s, mem 2.4 MiB of 64 MiB, cpu 0.417% of 10%, out 578 B of 1.0 GiB",
    ]);
    expect(out.text()).not.toContain("\x1b");
  });

  test("human mode on a terminal: one line redrawn in place", () => {
    const out = capture();
    new LifecycleReporter(out.stream, { json: false, color: false, tty: true, session: "s1" }).status(status);
    expect(out.text().startsWith("\r\x1b[2K")).toBe(true);
    expect(out.text()).not.toContain("\n");
  });
});
