// Bad input to scripts/kernel-matrix: a kernel package that cannot be downloaded is one clear line
// naming the kernel and exit 125 (CI fails saying which); an unknown series is a usage error.
// (A guest that does not boot is one "kernel K (release) did not boot under qemu: <console>" line,
// seen for real with 6.12 before its CPU model was fixed; not reproducible without a broken kernel.)
import { expect, test } from "bun:test";
import { KERNEL_MATRIX, ROOT } from "./guest";

function km(args: string[]) {
  const p = Bun.spawnSync(["bash", KERNEL_MATRIX, ...args], { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, stderr: p.stderr.toString() };
}

test("a kernel package apt cannot download: exit 125 and one error line naming the kernel and the package", () => {
  const pkg = "linux-image-5.10.0-999-cloud-amd64-unsigned";
  const r = km(["--kernel", "5.10", "--kernel-pkg", pkg, "info"]);
  expect(r.code).toBe(125);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("kernel-matrix: error:"));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toStartWith("kernel-matrix: error: kernel 5.10: no package could be downloaded");
  expect(r.stderr).toContain(`kernel 5.10: ${pkg} could not be downloaded`);
}, 60_000);

test("an unknown --kernel series is a usage error (exit 2)", () => {
  const r = km(["--kernel", "4.19", "info"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("unknown --kernel 4.19 (5.10, 6.1 or 6.12)");
});
