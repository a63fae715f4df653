// Trusted-path checks on a real tree under /tmp: world/group-writable directories, non-root
// owners (chown to nobody), symlinks escaping the tree; and that the trust store applies them.
import { afterEach, beforeEach, describe, expect } from "bun:test";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { EbpfctlError, TrustError } from "../../src/errors";
import { loadPolicy } from "../../src/recipe/policy";
import { checkTrustedFile } from "../../src/recipe/trust-path";
import { hostRecipeSource, loadTrustedKeys, loadVerifiedRecipe, setTrustDecisionHook, type TrustDecision } from "../../src/recipe/trust";
import { EMBEDDED_PUBLIC_KEYS } from "../../build/embedded";
import { ConfigRoot, newKey, notRootReason, requireTest } from "./helpers";

const NOBODY = 65534;

function refusal(fn: () => unknown): TrustError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TrustError);
    const err = e as TrustError;
    expect(err.exitCode).toBe(4);
    expect(err.code).toBe("EBPFCTL-E0310");
    expect(err.message).not.toContain("\n");
    return err;
  }
  throw new Error("expected a refusal, nothing was thrown");
}
const rootTest = (name: string, fn: () => void) => requireTest(name, notRootReason, fn);

/** loadTrustedKeys with its trust decisions captured (a refused host key is left out, not fatal). */
function keysAndRefusals(): { keys: ReturnType<typeof loadTrustedKeys>; refused: TrustDecision[] } {
  const refused: TrustDecision[] = [];
  setTrustDecisionHook((d) => refused.push(d));
  try {
    return { keys: loadTrustedKeys(), refused };
  } finally {
    setTrustDecisionHook(undefined);
  }
}

describe("checkTrustedFile", () => {
  let base = "";
  let root = "";
  let file = "";
  beforeEach(() => {
    base = mkdtempSync("/tmp/ebpfctl-path-");
    chmodSync(base, 0o755);
    root = join(base, "conf");
    mkdirSync(join(root, "sub"), { recursive: true });
    chmodSync(root, 0o755);
    chmodSync(join(root, "sub"), 0o755);
    file = join(root, "sub", "key.pub");
    writeFileSync(file, "x");
    chmodSync(file, 0o644);
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  rootTest("a root-owned 0644 file in root-owned 0755 dirs passes (through sticky /tmp)", () => {
    expect(checkTrustedFile(file, root)).toBe(realpathSync(file));
  });
  rootTest("world-writable directory above the file", () => {
    chmodSync(join(root, "sub"), 0o777);
    const e = refusal(() => checkTrustedFile(file, root));
    expect(e.reason).toBe("world-writable");
    expect(e.message).toContain(`${join(root, "sub")} is world-writable (mode 0777)`);
  });
  rootTest("world-writable directory above the trusted root (the whole chain up to / counts)", () => {
    chmodSync(base, 0o757);
    expect(refusal(() => checkTrustedFile(file, root)).reason).toBe("world-writable");
  });
  rootTest("group-writable file", () => {
    chmodSync(file, 0o664);
    expect(refusal(() => checkTrustedFile(file, root)).reason).toBe("group-writable");
  });
  rootTest("a sticky world-writable directory above the trusted root is accepted, as /tmp is", () => {
    chmodSync(base, 0o1777);
    expect(checkTrustedFile(file, root)).toBe(realpathSync(file));
  });
  rootTest("a sticky world-writable (1777) directory inside the trusted tree is refused like any writable one", () => {
    chmodSync(join(root, "sub"), 0o1777);
    expect(refusal(() => checkTrustedFile(file, root)).reason).toBe("world-writable");
    chmodSync(join(root, "sub"), 0o1775);
    expect(refusal(() => checkTrustedFile(file, root)).reason).toBe("group-writable");
  });
  rootTest("file owned by nobody", () => {
    chownSync(file, NOBODY, NOBODY);
    const e = refusal(() => checkTrustedFile(file, root));
    expect(e.reason).toBe("not-root-owned");
    expect(e.message).toContain(`owned by uid ${NOBODY}`);
  });
  rootTest("directory owned by nobody", () => {
    chownSync(join(root, "sub"), NOBODY, 0);
    expect(refusal(() => checkTrustedFile(file, root)).reason).toBe("not-root-owned");
  });
  rootTest("symlink escaping the trusted tree", () => {
    const outside = join(base, "outside.pub");
    writeFileSync(outside, "x");
    chmodSync(outside, 0o644);
    const link = join(root, "sub", "evil.pub");
    symlinkSync(outside, link);
    const e = refusal(() => checkTrustedFile(link, root));
    expect(e.reason).toBe("symlink-escape");
    expect(e.message).toContain("outside the trusted tree");
  });
  rootTest("directory symlink escaping the trusted tree", () => {
    const outsideDir = join(base, "elsewhere");
    mkdirSync(outsideDir, { mode: 0o755 });
    writeFileSync(join(outsideDir, "k.pub"), "x");
    symlinkSync(outsideDir, join(root, "linked"));
    expect(refusal(() => checkTrustedFile(join(root, "linked", "k.pub"), root)).reason).toBe("symlink-escape");
  });
  rootTest("symlink inside the tree is fine; one to a nobody-owned file is not", () => {
    const link = join(root, "alias.pub");
    symlinkSync(file, link);
    expect(checkTrustedFile(link, root)).toBe(realpathSync(file));
    chownSync(file, NOBODY, NOBODY);
    expect(refusal(() => checkTrustedFile(link, root)).reason).toBe("not-root-owned");
  });
  rootTest("missing and dangling", () => {
    expect(refusal(() => checkTrustedFile(join(root, "nope"), root)).reason).toBe("missing");
    symlinkSync(join(root, "gone"), join(root, "dangling"));
    expect(refusal(() => checkTrustedFile(join(root, "dangling"), root)).reason).toBe("missing");
  });
});

describe("the trust store applies the path checks", () => {
  let cfg: ConfigRoot;
  beforeEach(() => {
    cfg = new ConfigRoot();
  });
  afterEach(() => cfg.cleanup());

  rootTest("a world-writable trusted-keys directory is refused (named, audited), and the embedded keys still apply", () => {
    cfg.trust(newKey());
    expect(loadTrustedKeys().some((k) => k.source.endsWith("test.pub"))).toBe(true);
    chmodSync(join(cfg.dir, "trusted-keys"), 0o777);
    const { keys, refused } = keysAndRefusals();
    expect(refused).toEqual([{ event: "refused", reason: "world-writable", file: join(cfg.dir, "trusted-keys") }]);
    expect(keys.map((k) => k.source)).toEqual(EMBEDDED_PUBLIC_KEYS.map(() => "embedded"));
  });
  rootTest("a sticky world-writable (1777) trusted-keys directory is refused too (anyone could drop a .pub there)", () => {
    cfg.trust(newKey());
    chmodSync(join(cfg.dir, "trusted-keys"), 0o1777);
    const { keys, refused } = keysAndRefusals();
    expect(refused.map((r) => r.reason)).toEqual(["world-writable"]);
    expect(keys.some((k) => k.source.endsWith("test.pub"))).toBe(false);
  });
  rootTest("a trusted key owned by nobody is refused and named; the other keys stay", () => {
    const good = cfg.trust(newKey(), "good");
    const p = cfg.trust(newKey(), "nobodys");
    chownSync(p, NOBODY, NOBODY);
    const { keys, refused } = keysAndRefusals();
    expect(refused).toEqual([{ event: "refused", reason: "not-root-owned", file: p }]);
    expect(keys.some((k) => k.source === good)).toBe(true);
  });
  rootTest("a trusted key symlinked from outside the config tree is refused", () => {
    const outside = join(cfg.base, "planted.pub");
    writeFileSync(outside, newKey().pub);
    chmodSync(outside, 0o644);
    symlinkSync(outside, join(cfg.dir, "trusted-keys", "planted.pub"));
    expect(keysAndRefusals().refused.map((r) => r.reason)).toEqual(["symlink-escape"]);
  });
  rootTest("a malformed .pub in trusted-keys names the file and does not disable embedded trust (was: every command exit 4)", () => {
    const bad = cfg.write("trusted-keys/garbage.pub", "untrusted comment: x\nnot base64 at all\n");
    const { keys, refused } = keysAndRefusals();
    expect(refused).toEqual([{ event: "refused", reason: "bad-public-key", file: bad }]);
    expect(keys.length).toBe(EMBEDDED_PUBLIC_KEYS.length);
    // An embedded recipe still verifies under the embedded key.
    expect(loadVerifiedRecipe({ name: "execsnoop" }).signer?.keySource).toBe("embedded");
  });
  rootTest("special files as trusted keys (FIFO, directory, 1 GB sparse file) are refused within 2 s, one line each", () => {
    const dir = join(cfg.dir, "trusted-keys");
    execFileSync("mkfifo", ["-m", "0644", join(dir, "fifo.pub")]);
    mkdirSync(join(dir, "dir.pub"), { mode: 0o755 });
    const sparse = join(dir, "sparse.pub");
    writeFileSync(sparse, "");
    chmodSync(sparse, 0o644);
    truncateSync(sparse, 1 << 30);
    const t0 = performance.now();
    const { keys, refused } = keysAndRefusals();
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(refused.map((r) => [basename(r.file), r.reason]).sort()).toEqual([["dir.pub", "not-regular"], ["fifo.pub", "not-regular"], ["sparse.pub", "too-large"]]);
    expect(keys.length).toBe(EMBEDDED_PUBLIC_KEYS.length);
  });
  rootTest("a group-writable config root refuses the policy file", () => {
    cfg.write("policy.yaml", "allow_unsigned: true\n");
    expect(loadPolicy().allow_unsigned).toBe(true);
    chmodSync(cfg.dir, 0o775);
    expect(refusal(() => loadPolicy()).reason).toBe("group-writable");
  });
  rootTest("a host recipe manifest owned by nobody is refused", () => {
    const p = cfg.write("recipes/opensnoop.yaml", "name: opensnoop\n");
    expect(hostRecipeSource("opensnoop")?.manifestFile).toBe(p);
    chownSync(p, NOBODY, NOBODY);
    expect(refusal(() => hostRecipeSource("opensnoop")).reason).toBe("not-root-owned");
  });
  rootTest("policy.yaml: defaults when absent, strict schema when present", () => {
    const d = loadPolicy();
    expect(d).toMatchObject({ allow_unsigned: false, audit_syslog: false, host: {}, file: undefined });
    cfg.write("policy.yaml", "allow_unsigned: false\nhost: { max_sessions: 4, max_memory: 512MiB, max_rate: 50k, max_cpu: 10% }\n");
    expect(loadPolicy().host).toEqual({ max_sessions: 4, max_memory: 512 * 1024 * 1024, max_rate: 50_000, max_cpu: 10 });
    cfg.write("policy.yaml", "allow_unsigend: true\n");
    let err: unknown;
    try {
      loadPolicy();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EbpfctlError);
    expect((err as EbpfctlError).code).toBe("EBPFCTL-E0330");
    expect((err as EbpfctlError).message).toContain('unknown key "allow_unsigend"');
    cfg.write("policy.yaml", "host: { max_memory: lots }\n");
    expect(() => loadPolicy()).toThrow(/host\.max_memory/);
  });
});
