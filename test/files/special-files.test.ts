// Hostile paths: /dev/zero, a FIFO, a directory and a 1 GB sparse file given to every option and
// trust file that is read — each is one clear line (plus its hint) within 2 s, with the
// documented exit code, never 1, never a hang (before: /dev/zero grew to 3.9 GB RSS, a FIFO
// blocked forever, a directory was "internal error", exit 1). And the write side: a planted
// symlink is never followed, an existing file that is not ebpfctl's is never chmodded.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertBuilt, EBPFCTL, isolatedEnv, repoRoot } from "../helpers/trace";
import { readRegularText, writeNewFileAtomic } from "../../src/files/regular-file";

let dir = "";
const special: Record<string, string> = {};
beforeAll(() => {
  assertBuilt();
  dir = mkdtempSync("/tmp/ebpfctl-special-");
  chmodSync(dir, 0o755);
  special["/dev/zero"] = "/dev/zero";
  special.fifo = join(dir, "fifo");
  execFileSync("mkfifo", ["-m", "0644", special.fifo]);
  special.directory = join(dir, "directory");
  mkdirSync(special.directory, { mode: 0o755 });
  special.sparse = join(dir, "sparse");
  writeFileSync(special.sparse, "");
  chmodSync(special.sparse, 0o644);
  truncateSync(special.sparse, 1 << 30);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = isolatedEnv()): { code: number; stderr: string; ms: number } {
  const t0 = performance.now();
  const r = Bun.spawnSync([EBPFCTL, ...args], { env, stdout: "pipe", stderr: "pipe", timeout: 10_000 });
  return { code: r.exitCode ?? -1, stderr: r.stderr.toString(), ms: performance.now() - t0 };
}

/** Exactly one error line (plus an optional hint line). */
function oneLine(stderr: string): string[] {
  const lines = stderr.trim().split("\n").filter((l) => !l.startsWith("warning:"));
  expect(lines[0]).toMatch(/^error: /);
  expect(lines.length).toBeLessThanOrEqual(2);
  if (lines[1]) expect(lines[1]).toMatch(/^ {2}hint: /);
  return lines;
}

// [option, arguments for a path, documented exit code]
const OPTIONS: [string, (p: string) => string[], number][] = [
  ["recipe verify --file", (p) => ["recipe", "verify", "--file", p], 3],
  ["recipe inspect --file", (p) => ["recipe", "inspect", "--file", p], 3],
  ["trace --recipe-file", (p) => ["trace", "--recipe-file", p, "-d", "1"], 3],
  ["verify --baseline", (p) => ["verify", "--baseline", p], 11],
  ["recipe sign --key", (p) => ["recipe", "sign", join(repoRoot, "recipes/execsnoop.yaml"), "--key", p], 2],
];

describe("special files as input paths", () => {
  for (const [option, args, exit] of OPTIONS) {
    for (const kind of ["/dev/zero", "fifo", "directory", "sparse"]) {
      // verify --baseline takes a directory of baselines (the CI gate); test/verifier covers one without a fitting baseline.
      if (option === "verify --baseline" && kind === "directory") continue;
      test(`${option} ${kind}: one line, exit ${exit}, under 2 s`, () => {
        const r = run(args(special[kind]!));
        expect(r.code).toBe(exit);
        expect(r.ms).toBeLessThan(2000);
        const [line] = oneLine(r.stderr);
        expect(line).toContain(special[kind]!);
        expect(line).toMatch(kind === "sparse" ? /bytes, more than/ : /not a regular file/);
      });
    }
  }
});

describe("special files as trust files under the config directory", () => {
  const configWith = (rel: string, kind: string): Record<string, string> => {
    const cfg = mkdtempSync(join(dir, "etc-"));
    chmodSync(cfg, 0o755);
    mkdirSync(join(cfg, "trusted-keys"), { mode: 0o755 });
    chmodSync(join(cfg, "trusted-keys"), 0o755);
    const p = join(cfg, rel);
    if (kind === "fifo") execFileSync("mkfifo", ["-m", "0644", p]);
    else if (kind === "directory") mkdirSync(p, { mode: 0o755 });
    else if (kind === "sparse") {
      writeFileSync(p, "");
      chmodSync(p, 0o644);
      truncateSync(p, 1 << 30);
    } else execFileSync("mknod", ["-m", "0644", p, "c", "1", "5"]); // a /dev/zero of its own: a symlink would leave the tree
    return isolatedEnv({ EBPFCTL_CONFIG_DIR: cfg });
  };
  for (const kind of ["/dev/zero", "fifo", "directory", "sparse"]) {
    test(`policy.yaml is ${kind}: one line, exit 10, under 2 s`, () => {
      const r = run(["trace", "execsnoop", "-d", "1"], configWith("policy.yaml", kind));
      expect(r.code).toBe(10);
      expect(r.ms).toBeLessThan(2000);
      expect(oneLine(r.stderr)[0]).toContain("policy.yaml");
    });
    test(`a trusted key is ${kind}: named in a warning, ignored, embedded recipes still verify (exit 0)`, () => {
      const r = run(["recipe", "verify", "execsnoop"], configWith("trusted-keys/x.pub", kind));
      expect(r.ms).toBeLessThan(2000);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^warning: host trusted key .*x\.pub ignored/m);
    });
  }
  test("a malformed .pub does not make every command exit 4 (was a local DoS)", () => {
    const env = configWith("trusted-keys/x.pub", "directory");
    rmSync(join(env.EBPFCTL_CONFIG_DIR!, "trusted-keys/x.pub"), { recursive: true });
    writeFileSync(join(env.EBPFCTL_CONFIG_DIR!, "trusted-keys/x.pub"), "untrusted comment: planted\nAAAA\n");
    chmodSync(join(env.EBPFCTL_CONFIG_DIR!, "trusted-keys/x.pub"), 0o644);
    const r = run(["recipe", "verify", "execsnoop"], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("x.pub");
  });
});

describe("the write side", () => {
  test("writeNewFileAtomic never writes through a planted symlink, and leaves the victim alone", () => {
    const victim = join(dir, "victim");
    writeFileSync(victim, "precious");
    chmodSync(victim, 0o640);
    const target = join(dir, "state.json");
    symlinkSync(victim, target);
    // A temporary name cannot be pre-planted either: it is random and O_EXCL.
    writeNewFileAtomic(target, "new", 0o600);
    expect(readFileSync(victim, "utf8")).toBe("precious");
    expect(statSync(victim).mode & 0o777).toBe(0o640);
    expect(lstatSync(target).isFile()).toBe(true);
    expect(readFileSync(target, "utf8")).toBe("new");
  });
  test("writeNewFileAtomic refuses to replace a directory or a device", () => {
    expect(() => writeNewFileAtomic(special.directory!, "x")).toThrow(/not a regular file/);
    expect(() => writeNewFileAtomic("/dev/zero", "x")).toThrow(/not a regular file/);
  });
  test("trace --output-file: a symlink, a FIFO or someone else's file is refused (exit 2), never followed or chmodded", () => {
    const victim = join(dir, "victim2");
    writeFileSync(victim, "precious");
    chmodSync(victim, 0o644);
    const link = join(dir, "out-link");
    symlinkSync(victim, link);
    const others = join(dir, "others");
    writeFileSync(others, "theirs");
    chmodSync(others, 0o666);
    chownSync(others, 65534, 65534);
    for (const p of [link, special.fifo!, others]) {
      const r = run(["trace", "execsnoop", "-d", "1", "--output-file", p]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: --output-file .*\[EBPFCTL-E0001\]$/m);
    }
    expect(readFileSync(victim, "utf8")).toBe("precious");
    expect(readlinkSync(link)).toBe(victim);
    expect(statSync(others).mode & 0o777).toBe(0o666);
    expect(readFileSync(others, "utf8")).toBe("theirs");
  });
  test("keys generate --force over a planted symlink replaces the link, not its target", () => {
    const out = mkdtempSync(join(dir, "keys-"));
    const victim = join(dir, "victim3");
    writeFileSync(victim, "precious");
    symlinkSync(victim, join(out, "k.key"));
    const r = run(["keys", "generate", "-o", out, "--name", "k", "--force"]);
    expect(r.code).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("precious");
    expect(lstatSync(join(out, "k.key")).isFile()).toBe(true);
  });
  test("readRegularText refuses a file that is bigger than its cap without reading it", () => {
    expect(() => readRegularText(special.sparse!, { what: "thing", maxBytes: 1024, exitCode: 2 })).toThrow(/1073741824 bytes, more than the 1 KiB/);
  });
});
