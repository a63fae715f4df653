// Sheds the pages of our own executable that start-up touched and streaming does not need.
//
// A compiled ebpfctl is one ~110 MB file (Bun's runtime, its builtins, our bytecode and objects);
// start-up (argument parsing, recipe verification, BTF, load) faults in ~45 MB of it, which then
// stays in the resident set although the consumer loop uses a fraction. Those pages are clean and
// file-backed: MADV_DONTNEED on them only unmaps them (the kernel reads them back from the file,
// or finds them in the page cache, if they are touched again), so it is safe on read-only
// mappings that hold no private (copy-on-write) pages, which are the only ones it touches
// (smaps "Anonymous: 0 kB"; RELRO data, say, is read-only but private, and is skipped).
import { readFileSync, readlinkSync } from "node:fs";
import { libc } from "./ffi";

const MADV_DONTNEED = 4;

/** Returns the bytes of resident set it released (smaps Rss of the mappings it advised). */
export function shedExecutablePages(): number {
  let exe: string;
  let smaps: string;
  try {
    exe = readlinkSync("/proc/self/exe");
    smaps = readFileSync("/proc/self/smaps", "utf8");
  } catch {
    return 0;
  }
  let released = 0;
  // One block per mapping: a header line, then "Key: value kB" lines.
  for (const block of smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s+(.*)$/m.exec(block);
    if (!head || head[4]!.trim() !== exe || head[3]!.includes("w")) continue;
    const anon = Number(/^Anonymous:\s+(\d+)/m.exec(block)?.[1] ?? -1);
    const rss = Number(/^Rss:\s+(\d+)/m.exec(block)?.[1] ?? 0);
    if (anon !== 0 || rss === 0) continue;
    const start = BigInt("0x" + head[1]);
    const end = BigInt("0x" + head[2]);
    if (libc.madvise(start, end - start, MADV_DONTNEED) === 0) released += rss * 1024;
  }
  return released;
}
