// Shared fixtures for the trust-chain tests: a throw-away config root under /tmp laid out like
// /etc/ebpfctl (root-owned, 0755), signing keys, and a "needs X" test wrapper that skips locally
// but fails under CI=true, so CI never passes vacuously.
import { test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateKeyPair, parseSecretKey, signMessage, type MinisignSecretKey } from "../../src/recipe/minisign";
import { pinObjectHash } from "../../src/recipe/pin";

export const repoRoot = new URL("../../", import.meta.url).pathname;
export const MINISIGN = "/usr/bin/minisign";
export const isRoot = process.getuid?.() === 0;

type Fn = () => void | Promise<void>;
export function requireTest(name: string, missing: string | undefined, fn: Fn, timeoutMs = 20_000): void {
  if (!missing) test(name, fn, timeoutMs);
  else if (process.env.CI === "true") test(name, () => { throw new Error(`cannot run under CI: ${missing}`); });
  else test.skip(`${name} (skipped: ${missing})`, fn);
}
export const minisignMissing = existsSync(MINISIGN) ? undefined : `${MINISIGN} is not installed (apt-get install minisign)`;
export const notRootReason = isRoot ? undefined : "needs root (to create root-owned trees and chown to nobody)";

export interface TestKey { sk: MinisignSecretKey; pub: string; keyId: string; secretText: string }
export function newKey(comment = "test key"): TestKey {
  const kp = generateKeyPair({ untrustedComment: comment });
  return { sk: parseSecretKey(kp.secretKeyText), pub: kp.publicKeyText, keyId: kp.keyId, secretText: kp.secretKeyText };
}

export const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
export const manifestSource = (name: string) => readFileSync(join(repoRoot, "recipes", `${name}.yaml`), "utf8");

/** A config root like /etc/ebpfctl: <tmp>/etc-ebpfctl/{trusted-keys,recipes}, all root-owned 0755. */
export class ConfigRoot {
  readonly base: string;
  readonly dir: string;
  private prevEnv: string | undefined;
  constructor() {
    this.base = mkdtempSync("/tmp/ebpfctl-test-");
    chmodSync(this.base, 0o755);
    this.dir = join(this.base, "etc-ebpfctl");
    for (const d of [this.dir, join(this.dir, "trusted-keys"), join(this.dir, "recipes")]) mkdirSync(d, { mode: 0o755 });
    for (const d of [this.dir, join(this.dir, "trusted-keys"), join(this.dir, "recipes")]) chmodSync(d, 0o755);
    this.prevEnv = process.env.EBPFCTL_CONFIG_DIR;
    process.env.EBPFCTL_CONFIG_DIR = this.dir;
  }
  write(rel: string, data: string | Uint8Array, mode = 0o644): string {
    const p = join(this.dir, rel);
    writeFileSync(p, data);
    chmodSync(p, mode);
    return p;
  }
  trust(key: TestKey, name = "test"): string {
    return this.write(`trusted-keys/${name}.pub`, key.pub);
  }
  /** Install recipe `name` (manifest pinned to `object`, signed by `key` unless null). */
  installRecipe(name: string, object: Uint8Array, key: TestKey | null, opts: { manifest?: string; pinTo?: Uint8Array; as?: string; prehashed?: boolean } = {}): { manifest: string; signature?: string } {
    const text = pinObjectHash(opts.manifest ?? manifestSource(name), sha256(opts.pinTo ?? object));
    const as = opts.as ?? name;
    const objName = /^\s+file:\s*(\S+)/m.exec(text)![1]!;
    this.write(`recipes/${as}.yaml`, text);
    this.write(`recipes/${objName}`, object);
    if (!key) return { manifest: text };
    const signature = signMessage(Buffer.from(text), key.sk, { trustedComment: `ebpfctl recipe ${name} test`, prehashed: opts.prehashed });
    this.write(`recipes/${as}.yaml.minisig`, signature);
    return { manifest: text, signature };
  }
  cleanup(): void {
    if (this.prevEnv === undefined) delete process.env.EBPFCTL_CONFIG_DIR;
    else process.env.EBPFCTL_CONFIG_DIR = this.prevEnv;
    rmSync(this.base, { recursive: true, force: true });
  }
}

/** Fake object bytes: the trust chain never interprets them, only hashes them. */
export const fakeObject = (seed: string, size = 4096): Uint8Array => {
  const out = new Uint8Array(size);
  let h = createHash("sha512").update(seed).digest();
  for (let i = 0; i < size; i++) {
    if (i % 64 === 0 && i) h = createHash("sha512").update(h).digest();
    out[i] = h[i % 64]!;
  }
  return out;
};
