// The trust chain end to end on a real config tree: signature → object pin → schema, a tamper
// matrix where every case must be refused with the right reason, the override rule, unsigned
// runs under policy, and attempts to get a VerifiedRecipe without going through verifyRecipe.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Cli } from "clipanion";
import { EbpfctlError, SignatureError, TrustError } from "../../src/errors";
import type { RecipeSource } from "../../src/recipe/catalog";
import { signMessage } from "../../src/recipe/minisign";
import { findRecipeSource, hostRecipeSource, isVerified, loadVerifiedRecipe, recipeSourceFromFile, setTrustDecisionHook, verifyRecipe, type TrustDecision } from "../../src/recipe/trust";
import { KeysGenerateCommand } from "../../src/cli/keys-generate";
import { RecipeSignCommand } from "../../src/cli/recipe-sign";
import { RecipeVerifyCommand } from "../../src/cli/recipe-verify";
import { RecipeInspectCommand } from "../../src/cli/recipe-inspect";
import { KeysListCommand } from "../../src/cli/keys-list";
import { ConfigRoot, fakeObject, manifestSource, MINISIGN, minisignMissing, newKey, notRootReason, requireTest, sha256, type TestKey } from "./helpers";

let cfg: ConfigRoot;
let key: TestKey;
let decisions: TrustDecision[];
const OBJ = fakeObject("opensnoop");
const OBJ2 = fakeObject("execsnoop");
const recipesDir = () => join(cfg.dir, "recipes");

beforeEach(() => {
  cfg = new ConfigRoot();
  key = newKey("trusted test key");
  cfg.trust(key);
  decisions = [];
  setTrustDecisionHook((d) => decisions.push(d));
});
afterEach(() => {
  setTrustDecisionHook(undefined);
  cfg.cleanup();
});

/** Verify host recipe `name`; return the refusal's reason (or "ok"). */
function outcome(name = "opensnoop", opts: { allowUnsigned?: boolean } = {}): string {
  const src = hostRecipeSource(name);
  if (!src) throw new Error(`no host recipe ${name}`);
  try {
    const r = verifyRecipe(src, opts);
    expect(isVerified(r)).toBe(true);
    return "ok";
  } catch (e) {
    if (!(e instanceof EbpfctlError)) throw e;
    expect(e.message).not.toContain("\n");
    if (e instanceof SignatureError || e instanceof TrustError) {
      expect(e.exitCode).toBe(4);
      return e.reason;
    }
    return e.code;
  }
}
const flipByte = (file: string, at: (len: number) => number) => {
  const b = readFileSync(file);
  b[at(b.length)]! ^= 0x01;
  writeFileSync(file, b);
};
const sigFile = (name = "opensnoop") => join(recipesDir(), `${name}.yaml.minisig`);
const sigLines = (name = "opensnoop") => readFileSync(sigFile(name), "utf8").split("\n");

describe("a correctly signed and pinned host recipe", () => {
  test("verifies, names its signer and carries the exact bytes checked", () => {
    cfg.installRecipe("opensnoop", OBJ, key);
    const r = verifyRecipe(hostRecipeSource("opensnoop")!);
    expect(isVerified(r)).toBe(true);
    expect(r.signer).toEqual({ keyId: key.keyId, keySource: join(cfg.dir, "trusted-keys/test.pub"), trustedComment: "ebpfctl recipe opensnoop test", algorithm: "ED" });
    expect(r.objectSha256).toBe(sha256(OBJ));
    expect(Buffer.from(r.object).equals(Buffer.from(OBJ))).toBe(true);
    expect(r.manifest.name).toBe("opensnoop");
    expect(Object.isFrozen(r)).toBe(true);
    expect(decisions).toEqual([]);
  });
  test("a legacy (non-prehashed) signature verifies too", () => {
    cfg.installRecipe("opensnoop", OBJ, key, { prehashed: false });
    expect(verifyRecipe(hostRecipeSource("opensnoop")!).signer?.algorithm).toBe("Ed");
  });
});

describe("tamper matrix: each case refused with the right reason", () => {
  beforeEach(() => {
    cfg.installRecipe("opensnoop", OBJ, key);
    expect(outcome()).toBe("ok");
  });
  const cases: [string, () => void, string][] = [
    ["one changed byte in the manifest", () => flipByte(join(recipesDir(), "opensnoop.yaml"), (n) => n >> 1), "bad-signature"],
    ["one changed byte in the object", () => flipByte(join(recipesDir(), "opensnoop.bpf.o"), (n) => n - 7), "hash-mismatch"],
    ["one changed byte in the signature", () => {
      const l = sigLines();
      const b = Buffer.from(l[1]!, "base64");
      b[40]! ^= 0x01;
      l[1] = b.toString("base64");
      writeFileSync(sigFile(), l.join("\n"));
    }, "bad-signature"],
    ["one changed character in the signature's base64", () => {
      const l = sigLines();
      l[1] = l[1]!.slice(0, 30) + (l[1]![30] === "A" ? "B" : "A") + l[1]!.slice(31);
      writeFileSync(sigFile(), l.join("\n"));
    }, "bad-signature"],
    ["one changed byte in the trusted comment", () => {
      const l = sigLines();
      l[2] = l[2]!.replace("test", "tesT");
      writeFileSync(sigFile(), l.join("\n"));
    }, "bad-trusted-comment"],
    ["one changed byte in the global signature", () => {
      const l = sigLines();
      const b = Buffer.from(l[3]!, "base64");
      b[5]! ^= 0x10;
      l[3] = b.toString("base64");
      writeFileSync(sigFile(), l.join("\n"));
    }, "bad-trusted-comment"],
    ["signature algorithm changed", () => {
      const l = sigLines();
      const b = Buffer.from(l[1]!, "base64");
      b.write("EX", 0, "latin1");
      l[1] = b.toString("base64");
      writeFileSync(sigFile(), l.join("\n"));
    }, "unsupported-algorithm"],
    ["signed by a key that is not trusted", () => cfg.installRecipe("opensnoop", OBJ, newKey("stranger")), "untrusted-key"],
    ["key id rewritten to the trusted key's, signed by another key", () => {
      cfg.installRecipe("opensnoop", OBJ, newKey("impostor"));
      const l = sigLines();
      const b = Buffer.from(l[1]!, "base64");
      key.sk.keyIdBytes.copy(b, 2);
      l[1] = b.toString("base64");
      writeFileSync(sigFile(), l.join("\n"));
    }, "bad-signature"],
    ["signature truncated to two lines", () => writeFileSync(sigFile(), sigLines().slice(0, 2).join("\n")), "malformed"],
    ["signature truncated mid-line", () => writeFileSync(sigFile(), readFileSync(sigFile()).subarray(0, 100)), "malformed"],
    ["empty signature file", () => writeFileSync(sigFile(), ""), "empty"],
    ["signature file removed", () => rmSync(sigFile()), "unsigned"],
    ["manifest truncated", () => writeFileSync(join(recipesDir(), "opensnoop.yaml"), readFileSync(join(recipesDir(), "opensnoop.yaml")).subarray(0, 200)), "bad-signature"],
    ["empty manifest", () => writeFileSync(join(recipesDir(), "opensnoop.yaml"), ""), "bad-signature"],
    ["object truncated", () => writeFileSync(join(recipesDir(), "opensnoop.bpf.o"), OBJ.subarray(0, 1000)), "hash-mismatch"],
    ["empty object", () => writeFileSync(join(recipesDir(), "opensnoop.bpf.o"), ""), "hash-mismatch"],
    ["object missing", () => rmSync(join(recipesDir(), "opensnoop.bpf.o")), "missing"],
    ["object swapped for another recipe's object", () => writeFileSync(join(recipesDir(), "opensnoop.bpf.o"), OBJ2), "hash-mismatch"],
    ["validly signed manifest that pins another object", () => cfg.installRecipe("opensnoop", OBJ, key, { pinTo: OBJ2 }), "hash-mismatch"],
    ["validly signed manifest without a pin", () => {
      const text = manifestSource("opensnoop");
      cfg.write("recipes/opensnoop.yaml", text);
      cfg.write("recipes/opensnoop.yaml.minisig", signMessage(Buffer.from(text), key.sk, { trustedComment: "no pin" }));
    }, "missing-pin"],
    ["validly signed and pinned manifest that fails the schema", () => {
      cfg.installRecipe("opensnoop", OBJ, key, { manifest: manifestSource("opensnoop").replace("kind: stream", "kind: streaming") });
    }, "EBPFCTL-E0011"],
    ["validly signed opensnoop installed under another name", () => {
      cfg.installRecipe("opensnoop", OBJ, key, { as: "notopensnoop" });
      rmSync(join(recipesDir(), "opensnoop.yaml"));
      renameSync(join(recipesDir(), "notopensnoop.yaml"), join(recipesDir(), "opensnoop2.yaml"));
      renameSync(join(recipesDir(), "notopensnoop.yaml.minisig"), join(recipesDir(), "opensnoop2.yaml.minisig"));
    }, "name-mismatch@opensnoop2"],
  ];
  for (const [what, tamper, want] of cases) {
    test(what, () => {
      tamper();
      const [reason, name] = want.split("@");
      expect(outcome(name ?? "opensnoop")).toBe(reason!);
      // Every refusal is recorded for the audit log, with its reason and a file.
      expect(decisions.length).toBe(1);
      expect(decisions[0]!.event).toBe("refused");
      expect(decisions[0]!.reason).toBe(reason === "EBPFCTL-E0011" ? "schema-invalid" : reason!);
      expect(decisions[0]!.file.startsWith(cfg.dir)).toBe(true);
    });
  }

  test("swapped signature files between two recipes: both refused", () => {
    cfg.installRecipe("execsnoop", OBJ2, key);
    expect(outcome("execsnoop")).toBe("ok");
    const a = readFileSync(sigFile("opensnoop"));
    writeFileSync(sigFile("opensnoop"), readFileSync(sigFile("execsnoop")));
    writeFileSync(sigFile("execsnoop"), a);
    expect(outcome("opensnoop")).toBe("bad-signature");
    expect(outcome("execsnoop")).toBe("bad-signature");
  });
  test("the untrusted key refusal says which key id signed", () => {
    const stranger = newKey("stranger");
    cfg.installRecipe("opensnoop", OBJ, stranger);
    expect(() => verifyRecipe(hostRecipeSource("opensnoop")!)).toThrow(new RegExp(`signature check failed: .*opensnoop\\.yaml\\.minisig is signed by key ${stranger.keyId}, which is not trusted`));
  });
});

describe("order of the checks", () => {
  function countingSource(manifestText: string, signatureText: string | undefined, object: Uint8Array): RecipeSource & { reads: number } {
    const s = {
      name: "opensnoop", origin: "test", manifestFile: "test:opensnoop.yaml", manifestText, signatureFile: "test:opensnoop.yaml.minisig", signatureText, objectFile: "test:opensnoop.bpf.o", reads: 0,
      readObject() {
        s.reads++;
        return object;
      },
    };
    return s;
  }
  test("a bad signature is refused before the object is even read; a bad pin before the schema", () => {
    const { manifest, signature } = cfg.installRecipe("opensnoop", OBJ, key);
    // Manifest AND object tampered: the signature is what is reported, and the object is never read.
    const s1 = countingSource(manifest.replace("kind: stream", "kind: streamX"), signature, OBJ2);
    expect(() => verifyRecipe(s1)).toThrow(/signature check failed/);
    expect(s1.reads).toBe(0);
    // Signature fine, object wrong, schema broken too: the pin is reported.
    const broken = manifest.replace("kind: stream", "kind: streamX");
    const s2 = countingSource(broken, signMessage(Buffer.from(broken), key.sk, { trustedComment: "x" }), OBJ2);
    expect(() => verifyRecipe(s2)).toThrow(/object hash check failed/);
    expect(s2.reads).toBe(1);
    // All good: one read, and the bytes hashed are the bytes handed over.
    const s3 = countingSource(manifest, signature, OBJ);
    expect(verifyRecipe(s3).object).toBe(OBJ);
    expect(s3.reads).toBe(1);
  });
});

describe("unsigned recipes", () => {
  beforeEach(() => {
    cfg.installRecipe("opensnoop", OBJ, null);
  });
  test("refused without --allow-unsigned", () => expect(outcome("opensnoop")).toBe("unsigned"));
  test("refused with --allow-unsigned when the host policy is absent (default deny)", () => {
    expect(outcome("opensnoop", { allowUnsigned: true })).toBe("unsigned-denied");
  });
  test("refused with --allow-unsigned when the policy says allow_unsigned: false", () => {
    cfg.write("policy.yaml", "allow_unsigned: false\n");
    expect(outcome("opensnoop", { allowUnsigned: true })).toBe("unsigned-denied");
  });
  test("runs when both allow it: signer null, recorded as unsigned_run, pin still checked", () => {
    cfg.write("policy.yaml", "allow_unsigned: true\n");
    const r = verifyRecipe(hostRecipeSource("opensnoop")!, { allowUnsigned: true });
    expect(isVerified(r)).toBe(true);
    expect(r.signer).toBeNull();
    expect(decisions).toEqual([{ event: "unsigned_run", reason: "allow_unsigned", file: join(cfg.dir, "recipes/opensnoop.yaml") }]);
    writeFileSync(join(recipesDir(), "opensnoop.bpf.o"), OBJ2);
    expect(outcome("opensnoop", { allowUnsigned: true })).toBe("hash-mismatch");
  });
  test("a present but empty signature is never treated as unsigned", () => {
    cfg.write("policy.yaml", "allow_unsigned: true\n");
    cfg.write("recipes/opensnoop.yaml.minisig", "");
    expect(outcome("opensnoop", { allowUnsigned: true })).toBe("empty");
  });
});

describe("resolution: embedded, host, --recipe-file", () => {
  test("the embedded recipes verify under the embedded key", () => {
    const r = loadVerifiedRecipe({ name: "opensnoop" });
    expect(r.source.origin).toBe("embedded");
    expect(r.signer?.keySource).toBe("embedded");
    expect(r.signer?.trustedComment).toBe(`ebpfctl recipe opensnoop ${r.manifest.version} sha256:${r.objectSha256}`);
  });
  test("a host recipe with an embedded name overrides it only if it verifies", () => {
    cfg.installRecipe("opensnoop", OBJ, key);
    expect(findRecipeSource("opensnoop").origin).toBe(join(cfg.dir, "recipes/opensnoop.yaml"));
    flipByte(join(recipesDir(), "opensnoop.bpf.o"), () => 0);
    expect(findRecipeSource("opensnoop").origin).toBe("embedded");
    expect(decisions.map((d) => d.reason)).toEqual(["hash-mismatch"]);
  });
  test("a host-only name resolves to the host recipe; unknown names and path tricks do not resolve", () => {
    cfg.installRecipe("opensnoop", OBJ, key, { manifest: manifestSource("opensnoop").replace("name: opensnoop", "name: my-opens"), as: "my-opens" });
    expect(loadVerifiedRecipe({ name: "my-opens" }).manifest.name).toBe("my-opens");
    expect(() => findRecipeSource("nope")).toThrow(/unknown recipe "nope"/);
    expect(() => findRecipeSource("../recipes/my-opens")).toThrow(/unknown recipe/);
  });
  test("--recipe-file: signature beside it, object beside it", () => {
    cfg.installRecipe("opensnoop", OBJ, key);
    const r = verifyRecipe(recipeSourceFromFile(join(recipesDir(), "opensnoop.yaml")));
    expect(r.signer?.keyId).toBe(key.keyId);
    expect(() => recipeSourceFromFile(join(recipesDir(), "absent.yaml"))).toThrow(/no such recipe file/);
  });
});

describe("getting around the chain", () => {
  test("hand-made, copied, re-branded or prototype-derived objects are not verified", () => {
    cfg.installRecipe("opensnoop", OBJ, key);
    const real = verifyRecipe(hostRecipeSource("opensnoop")!);
    expect(isVerified(real)).toBe(true);
    const forged = { manifest: real.manifest, manifestText: real.manifestText, object: new Uint8Array([0xde, 0xad]), objectSha256: "0".repeat(64), source: real.source, signer: real.signer, brand: Symbol("verified") };
    expect(isVerified(forged)).toBe(false);
    // Even with the genuine brand symbol lifted off a real recipe:
    expect(isVerified({ ...forged, brand: real.brand })).toBe(false);
    expect(isVerified({ ...real })).toBe(false);
    expect(isVerified(Object.create(real))).toBe(false);
    expect(isVerified(null)).toBe(false);
    expect(isVerified(undefined)).toBe(false);
    // A verified recipe cannot be edited into something else.
    expect(() => {
      (real as { object: Uint8Array }).object = new Uint8Array(1);
    }).toThrow();
  });
  test("a source whose readObject lies after the signature check gains nothing", () => {
    const { manifest, signature } = cfg.installRecipe("opensnoop", OBJ, key);
    const evil: RecipeSource = { name: "opensnoop", origin: "evil", manifestFile: "evil.yaml", manifestText: manifest, signatureFile: "evil.minisig", signatureText: signature, objectFile: "evil.o", readObject: () => OBJ2 };
    expect(() => verifyRecipe(evil)).toThrow(/object hash check failed/);
  });
});

describe("CLI: keys generate → recipe sign → recipe verify/inspect, and minisign agrees", () => {
  async function run(args: string[]) {
    const c = new Cli({ binaryName: "ebpfctl" });
    for (const k of [KeysGenerateCommand, KeysListCommand, RecipeSignCommand, RecipeVerifyCommand, RecipeInspectCommand]) c.register(k);
    let out = "";
    let err = "";
    const sink = (f: (s: string) => void) => ({ write: (s: string | Uint8Array) => (f(String(s)), true) }) as unknown as NodeJS.WritableStream;
    const code = await c.run(args, { stdin: process.stdin, stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: process.env, colorDepth: 1 } as never);
    return { code, out, err };
  }

  requireTest("end to end", minisignMissing ?? notRootReason, async () => {
    const keysDir = join(cfg.base, "keys");
    const g = await run(["keys", "generate", "-o", keysDir, "--name", "team"]);
    expect(g.code).toBe(0);
    expect(statSync(join(keysDir, "team.key")).mode & 0o777).toBe(0o600);
    expect((await run(["keys", "generate", "-o", keysDir, "--name", "team"])).code).toBe(2);
    // An unpinned manifest with its object beside it: sign pins, then signs.
    const m = cfg.write("recipes/opensnoop.yaml", manifestSource("opensnoop"));
    cfg.write("recipes/opensnoop.bpf.o", OBJ);
    const s = await run(["recipe", "sign", m, "--key", join(keysDir, "team.key")]);
    expect(s.err).toBe("");
    expect(s.code).toBe(0);
    expect(readFileSync(m, "utf8")).toContain(`sha256: ${sha256(OBJ)}`);
    // The reference implementation accepts what we signed.
    const v = Bun.spawnSync([MINISIGN, "-V", "-p", join(keysDir, "team.pub"), "-m", m], { stdout: "pipe", stderr: "pipe" });
    expect(v.exitCode).toBe(0);
    // Not trusted yet → exit 4, naming the key.
    const keyId = /key id\s+([0-9A-F]{16})/.exec(g.out)![1]!;
    const refused = await run(["recipe", "verify", "opensnoop"]);
    expect(refused.code).toBe(0); // the embedded opensnoop still verifies (host override refused)
    const refusedFile = await run(["recipe", "verify", "--file", m]);
    expect(refusedFile.code).toBe(4);
    expect(refusedFile.err).toContain(`signed by key ${keyId}, which is not trusted`);
    // Trust it.
    cfg.write("trusted-keys/team.pub", readFileSync(join(keysDir, "team.pub")));
    const list = await run(["keys", "list", "--output", "json"]);
    expect(JSON.parse(list.out).keys.map((k: { key_id: string }) => k.key_id)).toContain(keyId);
    const ok = await run(["recipe", "verify", "--file", m]);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain(`key ${keyId}`);
    const insp = await run(["recipe", "inspect", "opensnoop", "--output", "json"]);
    expect(insp.code).toBe(0);
    const j = JSON.parse(insp.out);
    expect(j.signer.key_id).toBe(keyId);
    expect(j.object_sha256).toBe(sha256(OBJ));
    expect(j.manifest.probes[0].alternatives[0].target).toBe("syscalls/sys_exit_openat");
    const text = await run(["recipe", "inspect", "opensnoop"]);
    expect(text.out).toContain("tp_openat_exit: tracepoint syscalls/sys_exit_openat");
    // Tamper → exit 4.
    flipByte(m, (n) => n - 3);
    const bad = await run(["recipe", "verify", "--file", m]);
    expect(bad.code).toBe(4);
    expect(bad.err).toContain("signature check failed");
    // Legacy format works both ways too.
    writeFileSync(m, manifestSource("opensnoop"));
    chmodSync(m, 0o644);
    expect((await run(["recipe", "sign", m, "--key", join(keysDir, "team.key"), "--legacy", "-t", "legacy test"])).code).toBe(0);
    expect(Bun.spawnSync([MINISIGN, "-V", "-p", join(keysDir, "team.pub"), "-m", m]).exitCode).toBe(0);
    expect((await run(["recipe", "verify", "--file", m])).out).toContain("legacy signature");
  });
});

