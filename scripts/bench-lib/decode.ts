// In-process decode rate of the consumer path, as the session uses it: the opensnoop object is
// loaded with a 128 MiB ring buffer (filtered to comm open_storm, no rate cap), open_storm fills
// the ring while nothing consumes, then one ring_buffer__consume() drains it through
// RingBufferReader's loop into EventReader.decode (and, for the second figure, also the
// JSON renderer that -o json uses). The producer is not in the timed section: this is the
// consumer's own ceiling.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BpfObject, EventReader, RingBufferReader, type BpfLink } from "../../src/libbpf";
import { Rodata } from "../../src/libbpf/rodata";
import { JsonLinesRenderer, bootToWallOffsetMs } from "../../src/output/event-renderer";

export interface DecodeResult {
  events: number;
  /** events/s through the ring walk only (handler does nothing) */
  callbackOnly: number;
  /** events/s through the ring walk + EventReader.decode */
  decode: number;
  /** events/s through the ring walk + decode + JsonLinesRenderer.render (the -o json line) */
  decodeRender: number;
}

export async function decodeRates(repo: string, storm: string, count: number): Promise<DecodeResult> {
  const manifest = Bun.YAML.parse(readFileSync(join(repo, "recipes/opensnoop.yaml"), "utf8")) as { columns: never[] };
  const obj = BpfObject.openMemory(new Uint8Array(readFileSync(join(repo, "build/bpf/opensnoop.bpf.o"))), "opensnoop");
  const links: BpfLink[] = [];
  try {
    for (const p of obj.programs()) p.autoload = p.name === "tp_openat_exit";
    obj.map("events").maxEntries = 128 << 20;
    const rodata = new Rodata(obj);
    rodata.set("self_tgid", process.pid);
    rodata.set("targ_comm", "open_storm");
    rodata.set("filter_comm", true);
    obj.load();
    links.push(obj.program("tp_openat_exit").attachTracepoint("syscalls", "sys_exit_openat"));
    const reader = new EventReader(obj.btf(), "open_event");
    const renderer = new JsonLinesRenderer(manifest.columns, bootToWallOffsetMs());
    let n = 0;
    let sink = 0;
    const mode = { kind: "none" as "none" | "decode" | "render" };
    const rb = new RingBufferReader(obj.map("events"), (p, size) => {
      n++;
      if (mode.kind === "decode") sink += reader.decode(p, size).pid as number;
      else if (mode.kind === "render") sink += renderer.render(reader.decode(p, size)).length;
    });
    const fill = () => {
      const r = Bun.spawnSync([storm, String(count)]);
      if (r.exitCode !== 0) throw new Error(`${storm} failed`);
    };
    const timed = (kind: typeof mode.kind): number => {
      fill();
      mode.kind = kind;
      n = 0;
      const t0 = performance.now();
      rb.consume();
      const s = (performance.now() - t0) / 1000;
      if (n !== count) throw new Error(`consumed ${n} events, expected ${count}`);
      return n / s;
    };
    // Warm up the JIT on the real path first (not timed).
    timed("render");
    const result = { events: count, callbackOnly: timed("none"), decode: timed("decode"), decodeRender: timed("render") };
    rb.close();
    void sink;
    return result;
  } finally {
    for (const l of links.reverse()) l.close();
    obj.close();
  }
}
