// docs/kernel-matrix.md is generated from recipes/*.yaml and bpf/verifier-baseline/*.json; it must
// match what the generator makes of the committed inputs (regenerate: scripts/kernel-matrix, or
// bun scripts/gen-kernel-matrix-doc.ts after refreshing the baselines).
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../../..");
const BUN = join(ROOT, "node_modules/.bin/bun");

test("docs/kernel-matrix.md is up to date with the manifests and the verifier baselines", () => {
  const r = Bun.spawnSync([BUN, "scripts/gen-kernel-matrix-doc.ts", "--stdout"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  expect(r.exitCode).toBe(0);
  expect(readFileSync(join(ROOT, "docs/kernel-matrix.md"), "utf8")).toBe(r.stdout.toString());
});

test("the doc covers every recipe and every kernel's baseline (host + three guests), with each probe's chosen variant, the gate's policy and what each kernel lacks", () => {
  const doc = readFileSync(join(ROOT, "docs/kernel-matrix.md"), "utf8");
  const kernels = readdirSync(join(ROOT, "bpf/verifier-baseline")).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5));
  expect(kernels.length).toBeGreaterThanOrEqual(4);
  for (const series of [/^5\.10\./, /^6\.1\.0-/, /^6\.12\./, /^6\.18\./]) expect(kernels.filter((k) => series.test(k)).length).toBeGreaterThanOrEqual(1);
  for (const k of kernels) {
    expect(doc).toContain(`\`${k}\``);
    expect(doc).toContain(`### \`${k}\`\n\n`); // a "What each kernel lacks" entry and a rejections entry
  }
  expect(doc).toContain("## The verifier gate");
  expect(doc).toContain("nearest committed baseline of the same major.minor");
  expect(doc).toContain("## CI time");
  expect(doc).not.toContain("Not described yet");
  for (const f of readdirSync(join(ROOT, "recipes")).filter((f) => f.endsWith(".yaml"))) expect(doc).toContain(`### ${f.slice(0, -5)}\n`);
  // tcpconnect (columns: host 6.18, 6.12, 6.1, 5.10): fentry chosen in every guest (5.10 on its
  // plain-add path: no fetching atomics there), the tracepoint fallback on the locked-down host
  const fentry = doc.split("\n").find((l) => l.startsWith("| connect | `fentry_tcp_connect`"))!;
  expect(fentry).toMatch(/\| unsupported \| \*\*▶ accepted, \d+ insns\*\* \| \*\*▶ accepted, \d+ insns\*\* \| \*\*▶ accepted, \d+ insns\*\* \|$/);
  const tracepoint = doc.split("\n").find((l) => l.includes("`tp_inet_sock_set_state` | tracepoint `sock/inet_sock_set_state`") && l.includes("source port"))!;
  expect(tracepoint).toMatch(/\| \*\*▶ accepted, \d+ insns\*\* \| accepted, \d+ insns \| accepted, \d+ insns \| accepted, \d+ insns \|$/);
});
