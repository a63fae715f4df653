// RingBufferReader against the real kernel: a ring far smaller than the traffic, so records wrap
// around the end of the data area many times and the ring also fills (ring-full drops).
// Every event the kernel submitted must arrive exactly once, whole and in order, and submitted +
// ring-full must equal the generator's exact number of calls.
import { afterEach, expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { kernelTest } from "../kernel/helpers";
import { BpfObject, EventReader, RingBufferReader, type BpfLink } from "../../src/libbpf";
import { Rodata } from "../../src/libbpf/rodata";
import { SessionStatsReader } from "../../src/session/stats";

const repo = join(import.meta.dir, "../..");
const STORM = join(repo, "build/fixtures/open_storm");
const CALLS = 20_000;
const RING = 16 * 1024; // ~50 opensnoop records

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0).reverse()) c();
});

kernelTest(
  "a 16 KiB ring wrapped many times and filled: every submitted event arrives once, whole, in order; submitted + ring-full = calls",
  async () => {
    const obj = BpfObject.openMemory(new Uint8Array(readFileSync(join(repo, "build/bpf/opensnoop.bpf.o"))), "opensnoop");
    cleanup.push(() => obj.close());
    for (const p of obj.programs()) p.autoload = p.name === "tp_openat_exit";
    obj.map("events").maxEntries = RING;
    const rodata = new Rodata(obj);
    rodata.set("self_tgid", process.pid);
    rodata.set("targ_comm", "open_storm");
    rodata.set("filter_comm", true);
    obj.load();
    const link: BpfLink = obj.program("tp_openat_exit").attachTracepoint("syscalls", "sys_exit_openat");
    cleanup.push(() => link.close());

    const decoder = new EventReader(obj.btf(), "open_event");
    const path = `/nonexistent/ebpfctl-ringbuf-${process.pid}`;
    const ts: number[] = [];
    let wrong = 0;
    const reader = new RingBufferReader(obj.map("events"), (p, size) => {
      const e = decoder.decode(p, size);
      ts.push(e.ts_ns as number);
      if (e.path !== path || e.comm !== "open_storm" || e.ret !== -2) wrong++;
    });
    cleanup.push(() => reader.close());

    // Paced, so that the consumer keeps up with part of it and the ring also overflows at times.
    const storm = Bun.spawn([STORM, String(CALLS), path], { env: { ...process.env, OPEN_STORM_RATE: "100000" }, stdout: "pipe" });
    const out = new Response(storm.stdout).text();
    while (storm.exitCode === null) {
      reader.poll(2);
      await Bun.sleep(0); // let the event loop notice the exit
    }
    expect(storm.exitCode).toBe(0);
    expect(Number((await out).split(" ")[0])).toBe(CALLS);
    reader.consume();

    const counts = new SessionStatsReader(obj.map("session_stats")).read();
    expect(wrong).toBe(0);
    expect(ts.length).toBe(counts.submitted);
    expect(counts.submitted + counts.droppedRingbuf).toBe(CALLS);
    expect(counts.droppedRate + counts.sampledOut).toBe(0);
    // Far more than the ring holds went through it (tens of wraps at least), and it also filled.
    expect(ts.length * 312).toBeGreaterThan(20 * RING);
    expect(counts.droppedRingbuf).toBeGreaterThan(0);
    // A single-threaded generator: ring order is call order.
    let ordered = true;
    for (let i = 1; i < ts.length; i++) if (ts[i]! <= ts[i - 1]!) ordered = false;
    expect(ordered).toBe(true);
  },
  30_000,
);
