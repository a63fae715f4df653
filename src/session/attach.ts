// Attaches one chosen alternative of a probe. Each kind gets its target the way libbpf needs it.
import { EbpfctlError, attachFailed } from "../errors";
import { LibbpfError, drainLibbpfLog, type BpfLink, type BpfProgram } from "../libbpf";
import type { Alternative } from "../recipe/manifest";
import type { ParameterValues } from "../recipe/params";

/** Per-hit cost of entering a program, not counted in run_time_ns (cloudflare/ebpf_exporter benchmark). */
export const HOOK_ENTRY_NS: Record<Alternative["type"], number> = {
  tracepoint: 15, raw_tp: 10, tp_btf: 10, kprobe: 137, kretprobe: 150, fentry: 24, fexit: 24, uprobe: 1000, uretprobe: 1500, usdt: 1000, perf_event: 50,
};

export interface AttachContext {
  params: ParameterValues;
  /** Resolves --binary/--symbol to a file offset (uprobe recipes). */
  resolveUprobe?: (binary: string, symbol: string) => number;
  /** Opens per-CPU perf events and attaches (profile recipes). */
  attachPerfEvents?: (prog: BpfProgram) => BpfLink[];
  /** The USDT probe (provider:name in the binary's .note.stapsdt) a usdt alternative attaches to. */
  usdtProbe?: { provider: string; name: string };
  /** Tracepoint target ("category/event") → attach cookie: one generic program, told apart per attachment. */
  tracepointCookies?: Map<string, number>;
}

/** The kernel refused the attach (not a target the user left out): the session may fall back. */
export class KernelAttachRefused extends EbpfctlError {
  constructor(base: EbpfctlError, readonly errno: number) {
    super(base.code, base.message, base.exitCode, base.hint);
  }
}

export function attachAlternative(prog: BpfProgram, alt: Alternative, ctx: AttachContext): BpfLink[] {
  try {
    switch (alt.type) {
      case "tracepoint": {
        const target = alt.target ?? prog.section.replace(/^tp\/|^tracepoint\//, "");
        const [cat, ev] = target.split("/");
        if (!cat || !ev) throw attachFailed(`${prog.name}: tracepoint target "${target}" is not category/event`);
        return [prog.attachTracepoint(cat, ev, ctx.tracepointCookies?.get(target))];
      }
      case "uprobe":
      case "uretprobe": {
        const binary = String(ctx.params.binary ?? "");
        const symbol = String(ctx.params.symbol ?? "");
        if (!binary || !symbol || !ctx.resolveUprobe) throw attachFailed(`${prog.name}: uprobes need --binary and --symbol`);
        return [prog.attachUprobe(alt.type === "uretprobe", binary, ctx.resolveUprobe(binary, symbol))];
      }
      case "usdt": {
        const binary = String(ctx.params.binary ?? "");
        if (!binary || !ctx.usdtProbe) throw attachFailed(`${prog.name}: USDT probes need a binary, a provider and a probe name`);
        return [prog.attachUsdt(binary, ctx.usdtProbe.provider, ctx.usdtProbe.name)];
      }
      case "perf_event":
        if (!ctx.attachPerfEvents) throw attachFailed(`${prog.name}: perf_event programs need a sampling frequency`);
        return ctx.attachPerfEvents(prog);
      default:
        // raw_tp, tp_btf, fentry/fexit, kprobe/kretprobe: the SEC() name carries the target.
        return [prog.attach()];
    }
  } catch (e) {
    if (e instanceof LibbpfError) {
      // libbpf says why in its own words (e.g. which perf event it failed to create): keep the last line.
      const why = drainLibbpfLog().filter((l) => l.level === "warn").map((l) => l.text.replace(/^libbpf: /, "").trim()).at(-1);
      const base = attachFailed(`could not attach ${prog.name} (${alt.type}${alt.target ? ` ${alt.target}` : ""}): ${e.message}${why ? ` (libbpf: ${why})` : ""}`, "run ebpfctl doctor to see which attach types this kernel supports");
      throw new KernelAttachRefused(base, e.errno);
    }
    throw e;
  }
}
