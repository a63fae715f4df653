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

export type DecodePath = "callbackOnly" | "decode" | "genericLine" | "generatedLine" | "genericEncoded" | "generatedEncoded";
export const DECODE_PATHS: Record<DecodePath, string> = {
  callbackOnly: "ring walk only",
  decode: "ring walk + decode (generated decoder)",
  genericLine: "ring walk + decode + JSON line, generic: jsonEvent + JSON.stringify (before)",
  generatedLine: "ring walk + JSON line, generated from the record (after)",
  genericEncoded: "generic line + the sink's batch join + UTF-8 encode (before)",
  generatedEncoded: "generated line + the sink's batch join + UTF-8 encode (after)",
};

export interface DecodeResult {
  events: number;
  /** events/s of wall time per path */
  rate: Record<DecodePath, number>;
  /** the same, per second of this process's CPU time (robust to a host shared with other work) */
  cpu: Record<DecodePath, number>;
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
    const session = { recipe: "opensnoop", session: "0123456789abcdef" };
    const generic = new JsonLinesRenderer(manifest.columns, bootToWallOffsetMs(), session);
    const generatedFn = new JsonLinesRenderer(manifest.columns, bootToWallOffsetMs(), session).recordLine(reader);
    if (!generatedFn) throw new Error("opensnoop has no generated JSON line");
    const generated = reader.reading(generatedFn);
    let n = 0;
    let sink = 0;
    let batch: string[] = [];
    const flush = () => {
      sink += Buffer.from(batch.join("\n") + "\n").length;
      batch = [];
    };
    const mode = { kind: "callbackOnly" as DecodePath };
    const rb = new RingBufferReader(obj.map("events"), (p, size) => {
      n++;
      switch (mode.kind) {
        case "decode": sink += reader.decode(p, size).pid as number; break;
        case "genericLine": sink += generic.renderGeneric(reader.decode(p, size)).length; break;
        case "generatedLine": sink += generated(p, size).length; break;
        case "genericEncoded": if (batch.push(generic.renderGeneric(reader.decode(p, size))) === 4096) flush(); break;
        case "generatedEncoded": if (batch.push(generated(p, size)) === 4096) flush(); break;
      }
    });
    const fill = () => {
      const r = Bun.spawnSync([storm, String(count)]);
      if (r.exitCode !== 0) throw new Error(`${storm} failed`);
    };
    const timed = (kind: DecodePath): [number, number] => {
      fill();
      mode.kind = kind;
      n = 0;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      rb.consume();
      if (batch.length) flush();
      const s = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      if (n !== count) throw new Error(`consumed ${n} events, expected ${count}`);
      return [n / s, n / ((c.user + c.system) / 1e6)];
    };
    // Warm up the JIT on the real paths first (not timed).
    timed("genericEncoded");
    timed("generatedEncoded");
    const result: DecodeResult = { events: count, rate: {} as Record<DecodePath, number>, cpu: {} as Record<DecodePath, number> };
    for (const k of Object.keys(DECODE_PATHS) as DecodePath[]) [result.rate[k], result.cpu[k]] = timed(k);
    rb.close();
    void sink;
    return result;
  } finally {
    for (const l of links.reverse()) l.close();
    obj.close();
    rmSync(storm, { force: true });
  }
}
