// bench-startup --floor: an empty program compiled like dist/ebpfctl. Its exec → first line on
// stderr is what Bun itself costs before any code of ours runs.
process.stderr.write("ready\n");
setTimeout(() => {}, 60_000); // stays up until the bench stops it, like a tracer
