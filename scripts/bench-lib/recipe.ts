// A throw-away config root (laid out like /etc/ebpfctl) holding a bench signing key and a
// variant of a built-in recipe with higher ceilings, signed by that key. The shipped recipes cap
// max_rate (opensnoop: 100k/s), which would hide the consumer's real throughput.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { generateKeyPair, parseSecretKey, signMessage } from "../../src/recipe/minisign";
import { pinObjectHash } from "../../src/recipe/pin";

export interface BenchRecipe {
  /** EBPFCTL_CONFIG_DIR to run with */
  configDir: string;
  /** --recipe-file argument */
  manifestPath: string;
  cleanup(): void;
}

export function benchRecipe(repo: string, name: string, edit: (manifest: string) => string): BenchRecipe {
  const base = mkdtempSync("/tmp/ebpfctl-bench-");
  chmodSync(base, 0o755);
  const dir = join(base, "etc-ebpfctl");
  for (const d of [dir, join(dir, "trusted-keys"), join(dir, "recipes")]) {
    mkdirSync(d, { mode: 0o755 });
    chmodSync(d, 0o755);
  }
  const kp = generateKeyPair({ untrustedComment: "ebpfctl bench key" });
  writeFileSync(join(dir, "trusted-keys/bench.pub"), kp.publicKeyText, { mode: 0o644 });
  const object = readFileSync(join(repo, "build/bpf", `${name}.bpf.o`));
  const sha = createHash("sha256").update(object).digest("hex");
  const manifest = pinObjectHash(edit(readFileSync(join(repo, "recipes", `${name}.yaml`), "utf8")), sha);
  const objName = /^\s+file:\s*(\S+)/m.exec(manifest)![1]!;
  const manifestPath = join(dir, `recipes/${name}.yaml`);
  writeFileSync(manifestPath, manifest, { mode: 0o644 });
  writeFileSync(join(dir, "recipes", objName), object, { mode: 0o644 });
  writeFileSync(`${manifestPath}.minisig`, signMessage(Buffer.from(manifest), parseSecretKey(kp.secretKeyText), { trustedComment: `ebpfctl recipe ${name} bench variant` }), { mode: 0o644 });
  return { configDir: dir, manifestPath, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/** opensnoop with ceilings far above any rate this machine can produce. */
export const highCeilings = (m: string) =>
  m.replace(/ceilings: \{[^}]*\}/, "ceilings: { max_duration: 24h, max_rate: 100M, max_memory: 1GiB, max_cpu: 400, max_output: 64GiB }");

/** Sets maps.<name>.max_entries in a manifest (e.g. a bigger ring buffer). */
export function withMap(manifest: string, name: string, maxEntries: number): string {
  const entry = `  ${name}: { max_entries: ${maxEntries} }\n`;
  if (/^maps:\s*$/m.test(manifest)) return manifest.replace(/^maps:\s*\n/m, (m) => m + entry);
  return `${manifest.replace(/\n*$/, "\n")}maps:\n${entry}`;
}
