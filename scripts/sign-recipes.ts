// Signs the built-in recipes at build time (called by scripts/build-embedded.ts) with minisign's
// format, over the exact pinned manifest bytes that get embedded.
//
// The key: $EBPFCTL_SIGNING_KEY (a minisign secret key file; if encrypted, the password comes from
// $EBPFCTL_SIGNING_KEY_PASSWORD), else a local development key in .keys/dev.key (generated once,
// mode 0600, git-ignored). A release build must set EBPFCTL_SIGNING_KEY; the dev key only makes
// local builds work, and the public key embedded is always the one that signed.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateKeyPair, parseSecretKey, publicKeyTextOf, recipeTrustedComment, signMessage, verifySignature, type MinisignSecretKey } from "../src/recipe/minisign";

const root = new URL("..", import.meta.url).pathname;

/** The signing key for this build, and where it came from. */
export function buildSigningKey(): { sk: MinisignSecretKey; source: string } {
  const envKey = process.env.EBPFCTL_SIGNING_KEY;
  if (envKey) {
    return { sk: parseSecretKey(readFileSync(envKey, "utf8"), process.env.EBPFCTL_SIGNING_KEY_PASSWORD, envKey), source: envKey };
  }
  const dir = join(root, ".keys");
  const keyFile = join(dir, "dev.key");
  if (!existsSync(keyFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const kp = generateKeyPair({ untrustedComment: "ebpfctl development key (not for release)" });
    writeFileSync(keyFile, kp.secretKeyText, { mode: 0o600 });
    writeFileSync(join(dir, "dev.pub"), kp.publicKeyText, { mode: 0o644 });
    process.stderr.write(`sign-recipes: generated development signing key ${kp.keyId} in .keys/ (set EBPFCTL_SIGNING_KEY for a release)\n`);
  }
  chmodSync(keyFile, 0o600);
  return { sk: parseSecretKey(readFileSync(keyFile, "utf8"), undefined, keyFile), source: keyFile };
}

export async function signBuiltinRecipes(
  recipes: { name: string; manifest: string; signature: string }[],
  outDir: string,
): Promise<{ publicKeys: string[] }> {
  const { sk } = buildSigningKey();
  const pub = publicKeyTextOf(sk, `ebpfctl recipe signing key ${sk.keyId}`);
  mkdirSync(outDir, { recursive: true });
  for (const r of recipes) {
    const bytes = Buffer.from(r.manifest, "utf8");
    r.signature = signMessage(bytes, sk, { trustedComment: recipeTrustedComment(r.name, r.manifest), untrustedComment: `ebpfctl recipe ${r.name}, signed by key ${sk.keyId}` });
    verifySignature(bytes, r.signature, [sk.publicKey], `${r.name}.yaml.minisig`); // never embed a signature we cannot verify
    writeFileSync(join(outDir, `${r.name}.yaml.minisig`), r.signature);
  }
  return { publicKeys: [pub] };
}
