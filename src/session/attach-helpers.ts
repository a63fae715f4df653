// Attach-time resolvers a recipe needs beyond its SEC() names: uprobe targets (a trusted binary
// and a symbol's file offset) and per-CPU perf events for sampling programs.
import { readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, isAbsolute } from "node:path";
import { PerfEvent, parseCpuList, LibbpfError, type BpfLink, type BpfProgram } from "../libbpf";
import { ExitCode, perfEventFailed, uprobeBinaryRefused, uprobeSymbolMissing } from "../errors";
import type { Manifest } from "../recipe/manifest";
import type { AttachContext } from "./attach";
import type { ParameterValues } from "../recipe/params";
import { ElfError, symbolOffset } from "../symbols/elf-symbols";

const DEFAULT_FREQ_HZ = 49;

export function attachHelpers(manifest: Manifest, params: ParameterValues): Omit<AttachContext, "params"> {
  const types = new Set(manifest.probes.flatMap((p) => p.alternatives.map((a) => a.type)));
  const ctx: Omit<AttachContext, "params"> = {};
  if (types.has("uprobe") || types.has("uretprobe")) {
    if (params.binary !== undefined) {
      // Refuse before anything loads; attach the file we checked, not whatever a symlink points at later.
      params.binary = trustedBinary(String(params.binary));
    }
    const resolve = (binary: string, symbol: string) => {
      try {
        return symbolOffset(binary, symbol);
      } catch (e) {
        if (e instanceof ElfError) throw uprobeSymbolMissing(binary, e.message);
        throw e;
      }
    };
    // A missing symbol is refused before anything loads, too.
    if (params.binary !== undefined && params.symbol !== undefined) resolve(String(params.binary), String(params.symbol));
    ctx.resolveUprobe = resolve;
  }
  if (types.has("usdt") && params.binary !== undefined) params.binary = trustedBinary(String(params.binary));
  if (types.has("perf_event")) {
    const freq = Number(params.freq ?? DEFAULT_FREQ_HZ);
    ctx.attachPerfEvents = (prog) => attachCpuClock(prog, freq);
  }
  return ctx;
}

/**
 * A uprobe runs kernel code for every process that executes the file, with our privileges, on the
 * file the path names at attach time: so the file and every directory above it must be root-owned
 * and not writable by group or others (a sticky directory such as /tmp is fine: only the owner
 * may replace entries in it). Returns the canonical path (symlinks resolved).
 */
export function trustedBinary(binary: string): string {
  if (!isAbsolute(binary)) throw uprobeBinaryRefused(binary, "expected an absolute path", ExitCode.USAGE);
  let real: string;
  try {
    real = realpathSync(binary);
  } catch (e) {
    throw uprobeBinaryRefused(binary, `cannot resolve it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, ExitCode.USAGE);
  }
  const st = statSync(real);
  if (!st.isFile()) throw uprobeBinaryRefused(binary, `${real} is not a regular file`, ExitCode.USAGE);
  if (st.uid !== 0) throw uprobeBinaryRefused(binary, `${real} is owned by uid ${st.uid}, not root`, ExitCode.TRUST);
  if (st.mode & 0o022) throw uprobeBinaryRefused(binary, `${real} is writable by ${st.mode & 0o020 ? "its group" : "others"} (mode ${(st.mode & 0o7777).toString(8)})`, ExitCode.TRUST);
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    const d = statSync(dir);
    const sticky = (d.mode & 0o1000) !== 0;
    if (d.uid !== 0) throw uprobeBinaryRefused(binary, `directory ${dir} is owned by uid ${d.uid}, not root: its owner could replace the file`, ExitCode.TRUST);
    if (d.mode & 0o022 && !sticky) throw uprobeBinaryRefused(binary, `directory ${dir} is writable by ${d.mode & 0o020 ? "its group" : "others"} (mode ${(d.mode & 0o7777).toString(8)}): the file could be replaced`, ExitCode.TRUST);
    if (dir === "/") break;
  }
  return real;
}

/**
 * One cpu-clock event per online CPU, each attached to `prog`. A successful attach hands the
 * event's fd to the link (libbpf's bpf_link_perf_detach closes it on bpf_link__destroy); on any
 * failure everything opened so far is released here, so nothing leaks.
 */
export function attachCpuClock(prog: BpfProgram, freqHz: number): BpfLink[] {
  let cpus: number[];
  try {
    cpus = parseCpuList(readFileSync("/sys/devices/system/cpu/online", "utf8"));
  } catch (e) {
    throw perfEventFailed(`cannot read the online CPU list: ${(e as Error).message}`);
  }
  const links: BpfLink[] = [];
  try {
    for (const cpu of cpus) {
      let ev: PerfEvent;
      try {
        ev = PerfEvent.openCpuClock(cpu, freqHz);
      } catch (e) {
        throw perfEventFailed(e instanceof LibbpfError ? e.message : String(e));
      }
      try {
        links.push(ev.attach(prog));
      } finally {
        ev.close(); // no-op once the link owns the fd
      }
    }
    return links;
  } catch (e) {
    for (const l of links.reverse()) l.close();
    throw e;
  }
}
