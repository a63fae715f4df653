// In-process decode rate of the consumer path, as the session uses it: the opensnoop object is
// loaded with a 128 MiB ring buffer (filtered to comm open_storm, no rate cap), open_storm fills
// the ring while nothing consumes, then one ring_buffer__consume() drains it through
// RingBufferReader's loop into EventReader.decode (and, for the second figure, also the
// JSON renderer that -o json uses). The producer is not in the timed section: this is the
// consumer's own ceiling.
import { copyFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BpfObject, EventReader, RingBufferReader, type BpfLink } from "../../src/libbpf";
import { Rodata } from "../../src/libbpf/rodata";
import { JsonLinesRenderer, bootToWallOffsetMs } from "../../src/output/event-renderer";
import { InterpretedEventReader } from "./interpreted-reader";

export interface DecodeResult {
  events: number;
  /** the same, per second of this process's CPU time (robust to a host shared with other work) */
  cpu: Record<"callbackOnly" | "decode" | "decodeRender" | "interpretedDecode" | "interpretedRender", number>;
  /** events/s through the ring walk + the per-field interpreted decoder ebpfctl had before */
  interpretedDecode: number;
  /** events/s through the ring walk + interpreted decode + jsonEvent/JSON.stringify (the line before) */
  interpretedRender: number;
  /** events/s through the ring walk only (handler does nothing) */
  callbackOnly: number;
  /** events/s through the ring walk + EventReader.decode */
  decode: number;
  /** events/s through the ring walk + decode + JsonLinesRenderer.render (the -o json line) */
  decodeRender: number;
}

export async function decodeRates(repo: string, stormPath: string, count: number): Promise<DecodeResult> {
  // A copy under a name of its own: the comm filter must not catch another open_storm on the host.
  const comm = `dstorm${process.pid % 100000}`;
  const storm = `/tmp/${comm}`;
  copyFileSync(stormPath, storm);
  const manifest = Bun.YAML.parse(readFileSync(join(repo, "recipes/opensnoop.yaml"), "utf8")) as { columns: never[] };
  const obj = BpfObject.openMemory(new Uint8Array(readFileSync(join(repo, "build/bpf/opensnoop.bpf.o"))), "opensnoop");
  const links: BpfLink[] = [];
  try {
    for (const p of obj.programs()) p.autoload = p.name === "tp_openat_exit";
    obj.map("events").maxEntries = 128 << 20;
    const rodata = new Rodata(obj);
    rodata.set("self_tgid", process.pid);
    rodata.set("targ_comm", comm);
    rodata.set("filter_comm", true);
    obj.load();
    links.push(obj.program("tp_openat_exit").attachTracepoint("syscalls", "sys_exit_openat"));
    const reader = new EventReader(obj.btf(), "open_event");
    const interpreted = new InterpretedEventReader(obj.btf(), "open_event");
    const renderer = new JsonLinesRenderer(manifest.columns, bootToWallOffsetMs());
    const generic = new JsonLinesRenderer(manifest.columns, bootToWallOffsetMs());
    let n = 0;
    let sink = 0;
    const mode = { kind: "none" as "none" | "decode" | "render" | "idecode" | "irender" };
    const rb = new RingBufferReader(obj.map("events"), (p, size) => {
      n++;
      if (mode.kind === "decode") sink += reader.decode(p, size).pid as number;
      else if (mode.kind === "render") sink += renderer.render(reader.decode(p, size)).length;
      else if (mode.kind === "idecode") sink += interpreted.decode(p, size).pid as number;
      else if (mode.kind === "irender") sink += generic.renderGeneric(interpreted.decode(p, size)).length;
    });
    const fill = () => {
      const r = Bun.spawnSync([storm, String(count)]);
      if (r.exitCode !== 0) throw new Error(`${storm} failed`);
    };
    let cpuRate = 0;
    const timed = (kind: typeof mode.kind): number => {
      fill();
      mode.kind = kind;
      n = 0;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      rb.consume();
      const s = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      if (n !== count) throw new Error(`consumed ${n} events, expected ${count}`);
      cpuRate = n / ((c.user + c.system) / 1e6);
      return n / s;
    };
    const both = (kind: typeof mode.kind): [number, number] => {
      const wall = timed(kind);
      return [wall, cpuRate];
    };
    // Warm up the JIT on the real paths first (not timed).
    timed("render");
    timed("irender");
    const [callbackOnly, cCallback] = both("none");
    const [interpretedDecode, cIDecode] = both("idecode");
    const [interpretedRender, cIRender] = both("irender");
    const [decode, cDecode] = both("decode");
    const [decodeRender, cRender] = both("render");
    const result: DecodeResult = {
      events: count, callbackOnly, decode, decodeRender, interpretedDecode, interpretedRender,
      cpu: { callbackOnly: cCallback, decode: cDecode, decodeRender: cRender, interpretedDecode: cIDecode, interpretedRender: cIRender },
    };
    rb.close();
    void sink;
    return result;
  } finally {
    for (const l of links.reverse()) l.close();
    obj.close();
    rmSync(storm, { force: true });
  }
}
