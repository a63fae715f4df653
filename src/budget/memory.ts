// Memory the kernel pins for a recipe: estimated before load from map definitions, measured
// while running from each map's fdinfo (memlock), plus the consumer's resident memory
// (processMemory: now and the whole process's high-water mark).
import { readFileSync } from "node:fs";
import type { BpfMap } from "../libbpf";

export const BPF_MAP_TYPE_RINGBUF = 27;
const MAP_TYPE = { HASH: 1, ARRAY: 2, PERCPU_HASH: 5, PERCPU_ARRAY: 6, STACK_TRACE: 7, LRU_HASH: 9, LRU_PERCPU_HASH: 10, RINGBUF: 27 } as const;

const round8 = (n: number) => Math.ceil(n / 8) * 8;
const pageAlign = (n: number) => Math.ceil(n / 4096) * 4096;

/** Worst-case bytes a map pins once created (mirrors the kernel's memlock accounting closely). */
export function estimateMapBytes(m: { type: number; keySize: number; valueSize: number; maxEntries: number; name: string }, cpus: number): number {
  const hashElem = (v: number) => round8(48 + round8(m.keySize) + v); // htab_elem header + key + value
  switch (m.type) {
    case MAP_TYPE.RINGBUF:
      return m.maxEntries + 2 * 4096;
    case MAP_TYPE.ARRAY:
      return pageAlign(m.maxEntries * round8(m.valueSize)) + 4096;
    case MAP_TYPE.PERCPU_ARRAY:
      return m.maxEntries * round8(m.valueSize) * cpus + m.maxEntries * 8 + 4096;
    case MAP_TYPE.HASH:
    case MAP_TYPE.LRU_HASH:
      return m.maxEntries * (hashElem(round8(m.valueSize)) + 16) + 4096;
    case MAP_TYPE.PERCPU_HASH:
    case MAP_TYPE.LRU_PERCPU_HASH:
      return m.maxEntries * (hashElem(8) + round8(m.valueSize) * cpus + 16) + 4096;
    case MAP_TYPE.STACK_TRACE:
      return m.maxEntries * (round8(m.valueSize) + 32 + 8) + 4096;
    default:
      return m.maxEntries * round8(m.keySize + m.valueSize) + 4096;
  }
}

export function estimateMaps(maps: BpfMap[], cpus: number): { total: number; perMap: Record<string, number> } {
  const perMap: Record<string, number> = {};
  let total = 0;
  for (const m of maps) {
    const b = estimateMapBytes({ type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, name: m.name }, cpus);
    perMap[m.name] = b;
    total += b;
  }
  return { total, perMap };
}

/** The kernel's own figure for a map: "memlock:" in /proc/self/fdinfo/<fd>. */
export function mapMemlock(fd: number): number {
  try {
    const m = /^memlock:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** This process's resident set now and its high-water mark (VmRSS, VmHWM in /proc/self/status), in bytes. */
export function processMemory(): { rss: number; peak: number } {
  try {
    const t = readFileSync("/proc/self/status", "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(t)?.[1] ?? 0) * 1024;
    const rss = kb("VmRSS");
    return { rss, peak: Math.max(rss, kb("VmHWM")) };
  } catch {
    const rss = processRss();
    return { rss, peak: rss };
  }
}

export function processRss(): number {
  try {
    const pages = Number(readFileSync("/proc/self/statm", "utf8").split(" ")[1]);
    return pages * 4096;
  } catch {
    return 0;
  }
}
