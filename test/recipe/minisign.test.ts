// Interop with the reference implementation, both directions, both signature formats, and the
// refusal reasons of verifySignature.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SignatureError } from "../../src/errors";
import { generateKeyPair, parsePublicKey, parseSecretKey, scryptParams, signMessage, verifySignature, type MinisignPublicKey } from "../../src/recipe/minisign";
import { MINISIGN, minisignMissing, newKey, requireTest } from "./helpers";

let dir = "";
beforeAll(() => {
  dir = mkdtempSync("/tmp/ebpfctl-minisign-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function minisign(args: string[], stdin?: string): { code: number; out: string } {
  const r = Bun.spawnSync([MINISIGN, ...args], { cwd: dir, stdin: stdin === undefined ? "ignore" : Buffer.from(stdin), stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}
const file = (name: string, data: string | Uint8Array) => (writeFileSync(join(dir, name), data), join(dir, name));
const read = (name: string) => readFileSync(join(dir, name), "utf8");

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SignatureError);
    const err = e as SignatureError;
    expect(err.exitCode).toBe(4);
    expect(err.message).not.toContain("\n");
    return err.reason;
  }
  throw new Error("expected a SignatureError, nothing was thrown");
}

describe("interop with /usr/bin/minisign", () => {
  requireTest("minisign-made key and signatures (prehashed and legacy) verify with ours", minisignMissing, () => {
    expect(minisign(["-G", "-W", "-p", "m.pub", "-s", "m.key"]).code).toBe(0);
    const pub = parsePublicKey(read("m.pub"), "m.pub");
    // minisign prints the key id in the .pub comment: ours must name the same key. Debian's
    // minisign 0.11 prints it unpadded (%PRIX64), newer ones zero-padded (%016PRIX64, as we do).
    const printed = /^untrusted comment: minisign public key ([0-9A-F]{1,16})$/.exec(read("m.pub").split("\n")[0]!)?.[1];
    expect(printed).toBeDefined();
    expect(BigInt(`0x${printed}`)).toBe(BigInt(`0x${pub.keyId}`));
    expect(pub.keyId).toMatch(/^[0-9A-F]{16}$/);
    expect(pub.keyId).toMatch(/^[0-9A-F]{16}$/);
    const msg = Buffer.from("name: interop\nversion: 1.0.0\n\u00e9\u0000binary\xff");
    file("msg", msg);
    expect(minisign(["-S", "-s", "m.key", "-m", "msg", "-t", "prehashed comment"]).code).toBe(0);
    expect(minisign(["-S", "-l", "-s", "m.key", "-m", "msg", "-x", "msg.legacy", "-t", "legacy comment"]).code).toBe(0);
    const pre = verifySignature(msg, read("msg.minisig"), [pub]);
    expect(pre).toEqual({ keyId: pub.keyId, keySource: "m.pub", trustedComment: "prehashed comment", algorithm: "ED" });
    const leg = verifySignature(msg, read("msg.legacy"), [pub]);
    expect(leg).toEqual({ keyId: pub.keyId, keySource: "m.pub", trustedComment: "legacy comment", algorithm: "Ed" });
    // …and they are bound to the message.
    const other = Buffer.from(msg);
    other[0]! ^= 1;
    expect(reasonOf(() => verifySignature(other, read("msg.minisig"), [pub]))).toBe("bad-signature");
    expect(reasonOf(() => verifySignature(other, read("msg.legacy"), [pub]))).toBe("bad-signature");
    // The same key given as a bare base64 line (minisign -P) is the same key.
    expect(parsePublicKey(read("m.pub").split("\n")[1]!, "inline").keyId).toBe(pub.keyId);
  });

  requireTest("our signatures (prehashed and legacy) with a minisign -W key pass minisign -V", minisignMissing, () => {
    expect(minisign(["-G", "-W", "-p", "w.pub", "-s", "w.key"]).code).toBe(0);
    const sk = parseSecretKey(read("w.key"), undefined, "w.key");
    expect(sk.keyId).toBe(parsePublicKey(read("w.pub"), "w.pub").keyId);
    const msg = file("ours", "hello from ebpfctl\n");
    file("ours.minisig", signMessage(readFileSync(msg), sk, { trustedComment: "ebpfctl prehashed" }));
    file("ours.legacy", signMessage(readFileSync(msg), sk, { trustedComment: "ebpfctl legacy", prehashed: false }));
    const alg = (name: string) => Buffer.from(read(name).split("\n")[1]!, "base64").subarray(0, 2).toString("latin1");
    expect(alg("ours.minisig")).toBe("ED"); // prehashed
    expect(alg("ours.legacy")).toBe("Ed"); // legacy
    const a = minisign(["-V", "-p", "w.pub", "-m", "ours"]);
    expect(a).toEqual({ code: 0, out: "Signature and comment signature verified\nTrusted comment: ebpfctl prehashed\n" });
    const b = minisign(["-V", "-p", "w.pub", "-m", "ours", "-x", "ours.legacy"]);
    expect(b).toEqual({ code: 0, out: "Signature and comment signature verified\nTrusted comment: ebpfctl legacy\n" });
    // minisign really checks: a changed file fails under it too.
    file("ours", "hello from ebpfctl!\n");
    expect(minisign(["-V", "-p", "w.pub", "-m", "ours"]).code).not.toBe(0);
    expect(minisign(["-V", "-p", "w.pub", "-m", "ours", "-x", "ours.legacy"]).code).not.toBe(0);
  });

  requireTest("our generated key pair works in minisign (sign -S and -S -l), and we verify the result", minisignMissing, () => {
    const kp = generateKeyPair({ untrustedComment: "generated by ebpfctl" });
    file("g.pub", kp.publicKeyText);
    file("g.key", kp.secretKeyText);
    expect(kp.publicKeyText.split("\n")[0]).toBe("untrusted comment: generated by ebpfctl");
    const pub = parsePublicKey(kp.publicKeyText, "g.pub");
    expect(pub.keyId).toBe(kp.keyId);
    file("gm", "payload\n");
    expect(minisign(["-S", "-s", "g.key", "-m", "gm", "-t", "by minisign"]).code).toBe(0);
    expect(minisign(["-S", "-l", "-s", "g.key", "-m", "gm", "-x", "gm.legacy", "-t", "legacy by minisign"]).code).toBe(0);
    expect(verifySignature(Buffer.from("payload\n"), read("gm.minisig"), [pub]).algorithm).toBe("ED");
    expect(verifySignature(Buffer.from("payload\n"), read("gm.legacy"), [pub]).trustedComment).toBe("legacy by minisign");
    expect(minisign(["-V", "-p", "g.pub", "-m", "gm"]).code).toBe(0);
  });

  requireTest(
    "scrypt-encrypted minisign key (its default): right password signs, wrong password is refused",
    minisignMissing,
    () => {
      expect(minisign(["-G", "-p", "e.pub", "-s", "e.key"], "s3cret pass\ns3cret pass\n").code).toBe(0);
      expect(() => parseSecretKey(read("e.key"), undefined, "e.key")).toThrow(/encrypted and no password/);
      expect(() => parseSecretKey(read("e.key"), "wrong", "e.key")).toThrow(/wrong password/);
      const sk = parseSecretKey(read("e.key"), "s3cret pass", "e.key");
      expect(sk.keyId).toBe(parsePublicKey(read("e.pub"), "e.pub").keyId);
      file("enc", "signed with a decrypted key\n");
      file("enc.minisig", signMessage(Buffer.from("signed with a decrypted key\n"), sk, { trustedComment: "decrypted" }));
      expect(minisign(["-V", "-p", "e.pub", "-m", "enc"]).code).toBe(0);
    },
    60_000,
  );
});

test("scrypt parameters follow libsodium's pickparams", () => {
  // minisign's defaults: OPSLIMIT_SENSITIVE / MEMLIMIT_SENSITIVE → N=2^20, r=8, p=1.
  expect(scryptParams(33554432n, 1073741824n)).toEqual({ N: 1 << 20, r: 8, p: 1 });
  // INTERACTIVE (524288, 16 MiB) → N=2^14, r=8, p=1.
  expect(scryptParams(524288n, 16777216n)).toEqual({ N: 1 << 14, r: 8, p: 1 });
  // ops-bound branch: small opslimit, huge memlimit → N from opslimit (maxN = 32768/32 = 1024 → 2^10).
  expect(scryptParams(1000n, 1n << 40n)).toEqual({ N: 1 << 10, r: 8, p: 1 });
});

describe("verifySignature refusals", () => {
  const key = newKey();
  const pub: MinisignPublicKey = parsePublicKey(key.pub, "test.pub");
  const msg = Buffer.from("manifest bytes\n");
  const good = signMessage(msg, key.sk, { trustedComment: "tc" });
  const lines = good.split("\n");
  const withSigStruct = (mutate: (b: Buffer) => void) => {
    const b = Buffer.from(lines[1]!, "base64");
    mutate(b);
    return [lines[0], b.toString("base64"), lines[2], lines[3], ""].join("\n");
  };

  test("the good signature verifies, with CRLF line endings too", () => {
    expect(verifySignature(msg, good, [pub]).trustedComment).toBe("tc");
    expect(verifySignature(msg, good.replace(/\n/g, "\r\n"), [pub]).trustedComment).toBe("tc");
  });
  test("empty", () => {
    expect(reasonOf(() => verifySignature(msg, "", [pub]))).toBe("empty");
    expect(reasonOf(() => verifySignature(msg, " \n\n", [pub]))).toBe("empty");
  });
  test("malformed: truncated, missing prefixes, bad base64, wrong length, extra lines", () => {
    for (const text of [
      lines.slice(0, 2).join("\n"),
      lines.slice(0, 3).join("\n"),
      good.replace("untrusted comment: ", "comment: "),
      good.replace("trusted comment: tc", "tc"),
      [lines[0], lines[1]!.slice(0, -4), lines[2], lines[3]].join("\n"),
      [lines[0], lines[1]!.replace(/[A-Z]/, "*"), lines[2], lines[3]].join("\n"),
      [lines[0], lines[1], lines[2], lines[3]!.slice(4)].join("\n"),
      good + "extra line\n",
    ]) {
      expect(reasonOf(() => verifySignature(msg, text, [pub]))).toBe("malformed");
    }
  });
  test("unsupported algorithm", () => {
    expect(reasonOf(() => verifySignature(msg, withSigStruct((b) => b.write("Xx", 0, "latin1")), [pub]))).toBe("unsupported-algorithm");
  });
  test("untrusted key names the key id", () => {
    const other = newKey();
    const sig = signMessage(msg, other.sk, { trustedComment: "tc" });
    expect(() => verifySignature(msg, sig, [pub])).toThrow(new RegExp(`key ${other.keyId}, which is not trusted`));
    expect(reasonOf(() => verifySignature(msg, sig, []))).toBe("untrusted-key");
  });
  test("bad signature: a flipped signature byte, or the key id of a trusted key on another key's signature", () => {
    expect(reasonOf(() => verifySignature(msg, withSigStruct((b) => (b[20]! ^= 0x01)), [pub]))).toBe("bad-signature");
    const other = newKey();
    const forged = signMessage(msg, other.sk, { trustedComment: "tc" }).split("\n");
    const b = Buffer.from(forged[1]!, "base64");
    key.sk.keyIdBytes.copy(b, 2);
    expect(reasonOf(() => verifySignature(msg, [forged[0], b.toString("base64"), forged[2], forged[3]].join("\n"), [pub]))).toBe("bad-signature");
  });
  test("bad trusted comment: altered comment or global signature", () => {
    expect(reasonOf(() => verifySignature(msg, good.replace("trusted comment: tc", "trusted comment: tC"), [pub]))).toBe("bad-trusted-comment");
    const g = Buffer.from(lines[3]!, "base64");
    g[0]! ^= 0x80;
    expect(reasonOf(() => verifySignature(msg, [lines[0], lines[1], lines[2], g.toString("base64")].join("\n"), [pub]))).toBe("bad-trusted-comment");
  });
  test("the untrusted comment is not covered (as in minisign)", () => {
    expect(verifySignature(msg, good.replace(/^untrusted comment: .*/, "untrusted comment: anything"), [pub]).keyId).toBe(key.keyId);
  });
  test("comments must be one line; keys must be well-formed", () => {
    expect(() => signMessage(msg, key.sk, { trustedComment: "a\nb" })).toThrow(/single line/);
    expect(() => parsePublicKey("", "x.pub")).toThrow(/empty/);
    expect(() => parsePublicKey("untrusted comment: x\nRWQAAAA=\n", "x.pub")).toThrow(/x\.pub: not a minisign public key/);
    expect(() => parseSecretKey(key.pub, undefined, "x.key")).toThrow(/x\.key: not a minisign secret key/);
    const damaged = Buffer.from(key.secretText.split("\n")[1]!, "base64");
    damaged[100]! ^= 1; // inside sk
    expect(() => parseSecretKey(`untrusted comment: x\n${damaged.toString("base64")}\n`, undefined, "x.key")).toThrow(/checksum|does not match/);
  });
});
