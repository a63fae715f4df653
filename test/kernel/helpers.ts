// Kernel tests run against the real kernel. Where the kernel or privilege is missing they skip
// locally, but under CI=true a test that would skip fails instead, so CI never passes vacuously.
import { test } from "bun:test";
import { readKernelFacts, mayLoadTracing } from "../../src/kernel/facts";

const facts = readKernelFacts();
export const kernelSkipReason: string | undefined = !facts.btf.vmlinux
  ? "the kernel has no BTF (/sys/kernel/btf/vmlinux)"
  : !mayLoadTracing(facts)
    ? "this process lacks CAP_BPF+CAP_PERFMON (run as root)"
    : undefined;

type Fn = () => void | Promise<void>;

/** A test that needs a BTF kernel and the privilege to load tracing programs. */
export function kernelTest(name: string, fn: Fn, timeoutMs = 20_000): void {
  if (!kernelSkipReason) {
    test(name, fn, timeoutMs);
  } else if (process.env.CI === "true") {
    test(name, () => {
      throw new Error(`kernel test cannot run under CI: ${kernelSkipReason}`);
    });
  } else {
    test.skip(`${name} (skipped: ${kernelSkipReason})`, fn);
  }
}
