// bench-startup --floor: a program compiled like dist/ebpfctl that does nothing but write one line
// to stderr through process.stderr, as ebpfctl's lifecycle records are. Its exec → that line is
// what Bun itself costs before any code of ours runs.
// Measured quirk (Bun 1.4.5): a program that loads no node:fs before process.stderr's first use
// gets that first line out ~5 ms later (~10 ms instead of ~5); the lower floor is the honest one.
import { writeSync } from "node:fs";

void writeSync;
process.stderr.write("ready\n");
setTimeout(() => {}, 60_000); // stays up until the bench stops it, like a tracer
