// A deliberately unverifiable program (test/fixtures/unverifiable.bpf.c: reads past the end of a
// map value) loaded through src/libbpf and the session's verifier error path (verifierError):
// the error carries the verifier lines that explain the refusal, and names a file holding the
// whole log. Needs clang and root; under CI=true a missing precondition fails.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BpfObject, LoadError, captureLibbpfLog, drainLibbpfLog } from "../../src/libbpf";
import { verifierError, explainVerifierLog } from "../../src/verifier/verifier-report";
import { EbpfctlError, ExitCode } from "../../src/errors";
import { kernelTest } from "../kernel/helpers";

const ROOT = join(import.meta.dir, "../..");
const SRC = join(ROOT, "test/fixtures/unverifiable.bpf.c");
const OBJ = join(ROOT, "build/fixtures/unverifiable.bpf.o");

/** Compiles the fixture the way scripts/build compiles recipes (clang -target bpf, CO-RE). */
function buildFixture(): void {
  if (existsSync(OBJ) && Bun.file(OBJ).lastModified >= Bun.file(SRC).lastModified) return;
  const r = Bun.spawnSync(["clang", "-g", "-O2", "-target", "bpf", "-mcpu=v3", "-D__TARGET_ARCH_x86", `-I${join(ROOT, "bpf")}`, "-Wall", "-Werror", "-c", SRC, "-o", OBJ], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`clang failed on ${SRC}: ${r.stderr.toString()}`);
}

describe("an unverifiable program", () => {
  let runDir: string;
  const saved = process.env.EBPFCTL_RUN_DIR;
  beforeAll(() => {
    runDir = mkdtempSync(join(tmpdir(), "ebpfctl-unverifiable-"));
    process.env.EBPFCTL_RUN_DIR = runDir;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.EBPFCTL_RUN_DIR;
    else process.env.EBPFCTL_RUN_DIR = saved;
    rmSync(runDir, { recursive: true, force: true });
  });

  kernelTest("is refused with the explanatory verifier lines and the full log saved to a file named in the error", () => {
    Bun.spawnSync(["mkdir", "-p", join(ROOT, "build/fixtures")]);
    buildFixture();
    captureLibbpfLog(); // libbpf's own warnings stay off the test output
    drainLibbpfLog();
    const obj = BpfObject.openMemory(new Uint8Array(readFileSync(OBJ)), "unverifiable");
    let loadError: LoadError | undefined;
    try {
      obj.load();
    } catch (e) {
      if (!(e instanceof LoadError)) throw e;
      loadError = e;
    } finally {
      obj.close();
    }
    expect(loadError).toBeDefined();
    const e = loadError!;
    expect(e.program).toBe("out_of_bounds");
    expect(e.errno).toBe(13); // EACCES: the verifier's refusal
    expect(e.verifierLog).toContain("invalid access to map value");

    const err = verifierError("unverifiable", e.program, e.errno, e.verifierLog);
    expect(err).toBeInstanceOf(EbpfctlError);
    expect(err.code).toBe("EBPFCTL-E0021");
    expect(err.exitCode).toBe(ExitCode.KERNEL);
    // The explanation: the verifier's own words, naming the value size and the offending offset.
    expect(err.message).toContain("the verifier rejected unverifiable:out_of_bounds");
    expect(err.message).toMatch(/invalid access to map value, value_size=8 off=16 size=8/);
    expect(explainVerifierLog(e.verifierLog).length).toBeGreaterThan(0);
    for (const line of explainVerifierLog(e.verifierLog)) expect(err.message).toContain(line);
    // The full log: a file under the run directory, named in what the user reads (message + hint).
    const shown = `${err.message}\n${err.hint ?? ""}`;
    const path = /full verifier log saved to (\S+)/.exec(shown)?.[1];
    expect(path).toBeDefined();
    expect(path!.startsWith(join(runDir, "verifier-logs"))).toBe(true);
    expect(readFileSync(path!, "utf8")).toBe(e.verifierLog);
    expect(e.verifierLog).toMatch(/processed \d+ insns/);
  });
});
