// Signs the compiled executable (dist/ebpfctl → dist/ebpfctl.minisig) with the same key as the
// recipes (scripts/sign-recipes.ts: $EBPFCTL_SIGNING_KEY, else .keys/dev.key), so a fleet installs
// only a loader its trusted key signed ("signed artifacts for user-space loader + BPF objects").
// The public key goes beside it (dist/ebpfctl.pub) for `minisign -V -p dist/ebpfctl.pub -m dist/ebpfctl`.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { publicKeyTextOf, signMessage, verifySignature } from "../src/recipe/minisign";
import { buildSigningKey } from "./sign-recipes";

const root = new URL("..", import.meta.url).pathname;
const bin = join(root, "dist/ebpfctl");
const bytes = readFileSync(bin);
const { sk } = buildSigningKey();
const sha = createHash("sha256").update(bytes).digest("hex");
const sig = signMessage(bytes, sk, { trustedComment: `ebpfctl executable sha256:${sha}`, untrustedComment: `ebpfctl executable, signed by key ${sk.keyId}` });
verifySignature(bytes, sig, [sk.publicKey], "dist/ebpfctl.minisig"); // never ship a signature we cannot verify
writeFileSync(`${bin}.minisig`, sig);
const pub = publicKeyTextOf(sk, `ebpfctl signing key ${sk.keyId}`);
writeFileSync(`${bin}.pub`, pub.endsWith("\n") ? pub : pub + "\n");
process.stderr.write(`build: signed dist/ebpfctl (key ${sk.keyId}) → dist/ebpfctl.minisig\n`);
