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

describe("the status line's end is the one asked for", () => {
  test("-d 60 under a 1h budget: the terminal line reads /60s (or 1m), the plain line 'of 1m'", () => {
    const s: SessionStatus = { ...status, endMs: 60_000 };
    const tty = capture();
    new LifecycleReporter(tty.stream, { json: false, color: false, tty: true, session: "s1" }).status(s);
    expect(tty.text()).toMatch(/^\r\x1b\[2K.* time 5\.0s\/(60s|1m) /);
    const plain = capture();
    new LifecycleReporter(plain.stream, { json: false, color: false, tty: false, session: "s1" }).status(s);
    expect(plain.text()).toMatch(/time 5\.0s of (60s|1m),/);
  });

  test("without -d the duration budget is the end", () => {
    const tty = capture();
    new LifecycleReporter(tty.stream, { json: false, color: false, tty: true, session: "s1" }).status(status);
    expect(tty.text()).toMatch(/^\r\x1b\[2K.* time 5\.0s\/1h /);
  });
});

describe("LifecycleReporter.summary never prints an identity that does not hold", () => {
  const base = {
    produced: 368, delivered: 213, dropped_rate: 0, dropped_ringbuf: 0, sampled_out: 0,
    dropped_output_budget: 0, dropped_reader_closed: 0, dropped_write_error: 0,
    duration_ms: 1500, peak_rate: 10, mean_rate: 10, bpf_cpu_ns: 0, bpf_run_cnt: 0, cpu_percent: 0, peak_map_memory: 0, peak_rss: 0, output_bytes: 0,
  };
  const summary = (a: Record<string, unknown>) => {
    const out = capture();
    new LifecycleReporter(out.stream, { json: false, color: false, tty: false, session: "s1" }).summary("opensnoop", { sessionId: "s1", reason: "output-closed", exitCode: 0, accounting: a as never });
    return out.text();
  };
  test("the reader-closed cause is a term of the sum", () => {
    const t = summary({ ...base, dropped_reader_closed: 155, identity_holds: true, verdict: "truncated" });
    expect(t).toContain("(truncated); produced 368 = delivered 213 + rate-dropped 0 + ring-full 0 + sampled-out 0 + reader-closed 155;");
  });
  test("an identity that fails is printed with ≠ and the shortfall", () => {
    const t = summary({ ...base, identity_holds: false, verdict: "lossy" });
    expect(t).toContain("produced 368 ≠ delivered 213 + rate-dropped 0 + ring-full 0 + sampled-out 0 (155 events unaccounted for)");
    expect(t).not.toMatch(/produced 368 = /);
  });
});
