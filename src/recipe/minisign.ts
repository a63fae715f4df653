// minisign's file formats (https://jedisct1.github.io/minisign/), byte for byte, on node:crypto
// primitives only: Ed25519 (sign/verify), BLAKE2b-512 (prehash), BLAKE2b-256 (secret key
// checksum) and scrypt (encrypted secret keys). No cryptography is implemented here.
//
//   public key  : "untrusted comment: …" / base64("Ed" ‖ keyid[8] ‖ pk[32])
//   secret key  : "untrusted comment: …" / base64("Ed" ‖ kdf "Sc"|00 00 ‖ "B2" ‖ salt[32] ‖
//                 opslimit u64le ‖ memlimit u64le ‖ XOR-encrypted(keyid[8] ‖ sk[64] ‖ chk[32]))
//   signature   : "untrusted comment: …" / base64(alg "Ed"|"ED" ‖ keyid[8] ‖ sig[64]) /
//                 "trusted comment: …" / base64(Ed25519(sig ‖ trusted comment))
// "ED" signs BLAKE2b-512(message) (minisign ≥ 0.10 default); "Ed" signs the message (legacy, -l).
// The key id is printed as minisign prints it: the 8 bytes as a little-endian u64, upper-case hex.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, scryptSync, sign, timingSafeEqual, verify, type KeyObject } from "node:crypto";
import { publicKeyInvalid, secretKeyInvalid, SignatureError, usageError } from "../errors";

export interface MinisignPublicKey {
  /** 16 upper-case hex digits, as minisign prints it */
  keyId: string;
  key: KeyObject;
  /** Where the key came from: "embedded" or a file path */
  source: string;
  untrustedComment?: string;
  /** base64 line of the .pub file */
  base64: string;
}

export interface MinisignSecretKey {
  keyId: string;
  keyIdBytes: Buffer;
  privateKey: KeyObject;
  publicKey: MinisignPublicKey;
}

const UNTRUSTED_PREFIX = "untrusted comment: ";
const TRUSTED_PREFIX = "trusted comment: ";
const PK_BYTES = 2 + 8 + 32;
const SIG_BYTES = 2 + 8 + 64;
const SK_BYTES = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32;
// DER wrappers that turn raw Ed25519 keys into KeyObjects (RFC 8410).
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export const keyIdHex = (keyNum: Uint8Array): string => Buffer.from(keyNum).reverse().toString("hex").toUpperCase();

/** Strict base64 (the original alphabet, padded), as libsodium's sodium_base642bin accepts it. */
function b64(text: string, expected: number): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  const buf = Buffer.from(text, "base64");
  if (buf.length !== expected || buf.toString("base64") !== text) return undefined;
  return buf;
}

/** Lines without their "\r\n"/"\n" endings; trailing empty lines dropped. */
function lines(text: string): string[] {
  const ls = text.split("\n").map((l) => l.replace(/\r$/, ""));
  while (ls.length && ls[ls.length - 1] === "") ls.pop();
  return ls;
}

const rawPublicKey = (pk: Uint8Array): KeyObject => createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pk]), format: "der", type: "spki" });
const rawPrivateKey = (seed: Uint8Array): KeyObject => createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
const publicBytes = (k: KeyObject): Buffer => k.export({ format: "der", type: "spki" }).subarray(SPKI_PREFIX.length);
const seedBytes = (k: KeyObject): Buffer => k.export({ format: "der", type: "pkcs8" }).subarray(PKCS8_PREFIX.length);

function oneLineComment(comment: string, what: string): string {
  if (/[\r\n]/.test(comment)) throw usageError(`the ${what} must be a single line`);
  return comment;
}

export function publicKeyText(keyNum: Uint8Array, pk: Uint8Array, untrustedComment?: string): string {
  const b = Buffer.concat([Buffer.from("Ed"), keyNum, pk]).toString("base64");
  const comment = oneLineComment(untrustedComment ?? `minisign public key ${keyIdHex(keyNum)}`, "untrusted comment");
  return `${UNTRUSTED_PREFIX}${comment}\n${b}\n`;
}

/** The .pub text matching a secret key (like `minisign -R`). */
export function publicKeyTextOf(sk: MinisignSecretKey, untrustedComment?: string): string {
  return publicKeyText(sk.keyIdBytes, publicBytes(sk.publicKey.key), untrustedComment);
}

/** BLAKE2b-256 of sig_alg ‖ keyid ‖ sk: the secret key checksum ("B2"). */
function secretKeyChecksum(sigAlg: Uint8Array, keyNum: Uint8Array, sk: Uint8Array): Buffer {
  return createHash("blake2b256").update(sigAlg).update(keyNum).update(sk).digest();
}

/** A fresh key pair; the secret key is written unencrypted, like `minisign -G -W`. */
export function generateKeyPair(opts: { untrustedComment?: string } = {}): { publicKeyText: string; secretKeyText: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const keyNum = randomBytes(8);
  const pk = publicBytes(publicKey);
  const sk = Buffer.concat([seedBytes(privateKey), pk]);
  const sigAlg = Buffer.from("Ed");
  const raw = Buffer.concat([
    sigAlg, Buffer.from([0, 0]), Buffer.from("B2"),
    Buffer.alloc(32), Buffer.alloc(8), Buffer.alloc(8), // salt, opslimit, memlimit: unused without a KDF
    keyNum, sk, secretKeyChecksum(sigAlg, keyNum, sk),
  ]);
  const keyId = keyIdHex(keyNum);
  return {
    publicKeyText: publicKeyText(keyNum, pk, opts.untrustedComment),
    secretKeyText: `${UNTRUSTED_PREFIX}minisign unencrypted secret key ${keyId}\n${raw.toString("base64")}\n`,
    keyId,
  };
}

/** A .pub file's text (comment line + base64 line), or the bare base64 line (`minisign -P`). */
export function parsePublicKey(text: string, source: string): MinisignPublicKey {
  const ls = lines(text.trim() === "" ? "" : text);
  let comment: string | undefined;
  let line: string | undefined;
  if (ls.length === 1 && !ls[0]!.startsWith(UNTRUSTED_PREFIX)) line = ls[0]!.trim();
  else if (ls.length === 2 && ls[0]!.startsWith(UNTRUSTED_PREFIX)) {
    comment = ls[0]!.slice(UNTRUSTED_PREFIX.length);
    line = ls[1]!.trim();
  } else throw publicKeyInvalid(source, ls.length === 0 ? "the public key file is empty" : "not a minisign public key (expected an \"untrusted comment:\" line and one base64 line)");
  const raw = b64(line, PK_BYTES);
  if (!raw) throw publicKeyInvalid(source, `not a minisign public key (expected base64 of ${PK_BYTES} bytes)`);
  if (raw.subarray(0, 2).toString("latin1") !== "Ed") throw publicKeyInvalid(source, "unsupported public key algorithm (only Ed25519 \"Ed\" keys exist)");
  const keyNum = raw.subarray(2, 10);
  return { keyId: keyIdHex(keyNum), key: rawPublicKey(raw.subarray(10)), source, untrustedComment: comment, base64: line };
}

/**
 * libsodium's crypto_pwhash_scryptsalsa208sha256 parameter choice (pickparams in
 * crypto_pwhash/scryptsalsa208sha256/pwhash_scryptsalsa208sha256.c): opslimit/memlimit → N, r, p.
 */
export function scryptParams(opslimitIn: bigint, memlimit: bigint): { N: number; r: number; p: number } {
  const opslimit = opslimitIn < 32768n ? 32768n : opslimitIn;
  const r = 8n;
  let nLog2 = 1n;
  let p: bigint;
  const pickN = (maxN: bigint) => {
    for (nLog2 = 1n; nLog2 < 63n; nLog2++) if (1n << nLog2 > maxN / 2n) break;
  };
  if (opslimit < memlimit / 32n) {
    p = 1n;
    pickN(opslimit / (r * 4n));
  } else {
    pickN(memlimit / (r * 128n));
    let maxrp = opslimit / 4n / (1n << nLog2);
    if (maxrp > 0x3fffffffn) maxrp = 0x3fffffffn;
    p = maxrp / r;
  }
  return { N: Number(1n << nLog2), r: Number(r), p: Number(p) };
}

/** Unencrypted (kdf 00 00) and scrypt-encrypted ("Sc", minisign's default) secret keys. */
export function parseSecretKey(text: string, password?: string, source = "secret key"): MinisignSecretKey {
  const ls = lines(text);
  if (ls.length !== 2 || !ls[0]!.startsWith(UNTRUSTED_PREFIX)) throw secretKeyInvalid(source, "not a minisign secret key (expected an \"untrusted comment:\" line and one base64 line)");
  const raw = b64(ls[1]!.trim(), SK_BYTES);
  if (!raw) throw secretKeyInvalid(source, `not a minisign secret key (expected base64 of ${SK_BYTES} bytes)`);
  const sigAlg = raw.subarray(0, 2);
  const kdf = raw.subarray(2, 4).toString("latin1");
  if (sigAlg.toString("latin1") !== "Ed") throw secretKeyInvalid(source, "unsupported signature algorithm");
  if (raw.subarray(4, 6).toString("latin1") !== "B2") throw secretKeyInvalid(source, "unsupported checksum algorithm");
  const salt = raw.subarray(6, 38);
  const opslimit = raw.readBigUInt64LE(38);
  const memlimit = raw.readBigUInt64LE(46);
  const box = Buffer.from(raw.subarray(54)); // keyid ‖ sk ‖ chk, possibly encrypted
  if (kdf === "Sc") {
    if (password === undefined) throw secretKeyInvalid(source, "the secret key is encrypted and no password was given", "set EBPFCTL_SIGNING_KEY_PASSWORD (or decrypt a copy with \"minisign -C\")");
    const { N, r, p } = scryptParams(opslimit, memlimit);
    const stream = scryptSync(Buffer.from(password, "utf8"), salt, box.length, { N, r, p, maxmem: 128 * N * r * (p + 1) + 64 * 1024 * 1024 });
    for (let i = 0; i < box.length; i++) box[i]! ^= stream[i]!;
  } else if (kdf !== "\0\0") throw secretKeyInvalid(source, "unsupported key derivation function");
  const keyNum = box.subarray(0, 8);
  const sk = box.subarray(8, 72);
  const chk = box.subarray(72, 104);
  const want = secretKeyChecksum(sigAlg, keyNum, sk);
  // minisign -W leaves the checksum of an unencrypted key zeroed; an encrypted one must match.
  const zeroChk = chk.every((b) => b === 0);
  if (!timingSafeEqual(chk, want) && !(kdf !== "Sc" && zeroChk)) {
    throw secretKeyInvalid(source, kdf === "Sc" ? "wrong password for this secret key" : "the secret key's checksum does not match (the file is damaged)");
  }
  const privateKey = rawPrivateKey(sk.subarray(0, 32));
  const pk = publicBytes(createPublicKey(privateKey));
  if (!pk.equals(sk.subarray(32, 64))) throw secretKeyInvalid(source, "the secret key's public half does not match its seed (the file is damaged)");
  const pub = parsePublicKey(publicKeyText(keyNum, pk), source);
  return { keyId: pub.keyId, keyIdBytes: Buffer.from(keyNum), privateKey, publicKey: pub };
}

/** The text of a .minisig for `message`; prehashed ("ED") unless asked for the legacy format. */
export function signMessage(message: Uint8Array, sk: MinisignSecretKey, opts: { trustedComment: string; untrustedComment?: string; prehashed?: boolean }): string {
  const prehashed = opts.prehashed ?? true;
  const trusted = oneLineComment(opts.trustedComment, "trusted comment");
  const untrusted = oneLineComment(opts.untrustedComment ?? "signature from minisign secret key", "untrusted comment");
  const signed = prehashed ? createHash("blake2b512").update(message).digest() : message;
  const sig = sign(null, signed, sk.privateKey);
  const sigStruct = Buffer.concat([Buffer.from(prehashed ? "ED" : "Ed"), sk.keyIdBytes, sig]);
  const global = sign(null, Buffer.concat([sig, Buffer.from(trusted, "utf8")]), sk.privateKey);
  return `${UNTRUSTED_PREFIX}${untrusted}\n${sigStruct.toString("base64")}\n${TRUSTED_PREFIX}${trusted}\n${global.toString("base64")}\n`;
}

export interface SignatureCheck {
  keyId: string;
  keySource: string;
  trustedComment: string;
  algorithm: "Ed" | "ED";
}

/** Verify a .minisig over `message` against the trusted keys; throws SignatureError with a reason. */
export function verifySignature(message: Uint8Array, signatureText: string, trusted: MinisignPublicKey[], file = "signature"): SignatureCheck {
  if (signatureText.trim() === "") throw new SignatureError("empty", `signature check failed: ${file} is empty`, "sign the manifest again (ebpfctl recipe sign)");
  const malformed = (what: string) => new SignatureError("malformed", `signature check failed: ${file} is not a minisign signature (${what})`, "sign the manifest again (ebpfctl recipe sign)");
  const ls = lines(signatureText);
  if (ls.length < 4) throw malformed(`expected 4 lines, found ${ls.length}`);
  if (ls.length > 4) throw malformed(`expected 4 lines, found ${ls.length}`);
  if (!ls[0]!.startsWith(UNTRUSTED_PREFIX)) throw malformed(`line 1 must start with "${UNTRUSTED_PREFIX.trim()}"`);
  if (!ls[2]!.startsWith(TRUSTED_PREFIX)) throw malformed(`line 3 must start with "${TRUSTED_PREFIX.trim()}"`);
  const sigStruct = b64(ls[1]!, SIG_BYTES);
  if (!sigStruct) throw malformed(`line 2 must be base64 of ${SIG_BYTES} bytes`);
  const global = b64(ls[3]!, 64);
  if (!global) throw malformed("line 4 must be base64 of 64 bytes");
  const alg = sigStruct.subarray(0, 2).toString("latin1");
  if (alg !== "Ed" && alg !== "ED") throw new SignatureError("unsupported-algorithm", `signature check failed: ${file} uses an unsupported signature algorithm ${JSON.stringify(alg)}`, "minisign signatures are \"Ed\" (legacy) or \"ED\" (prehashed)");
  const keyId = keyIdHex(sigStruct.subarray(2, 10));
  const key = trusted.find((k) => k.keyId === keyId);
  if (!key) {
    throw new SignatureError(
      "untrusted-key",
      `signature check failed: ${file} is signed by key ${keyId}, which is not trusted`,
      trusted.length ? `trusted keys: ${trusted.map((k) => k.keyId).join(", ")}; add the signer's .pub to <config>/trusted-keys/ if you trust it` : "no trusted keys: add the signer's .pub to <config>/trusted-keys/",
    );
  }
  const sig = sigStruct.subarray(10);
  const signed = alg === "ED" ? createHash("blake2b512").update(message).digest() : message;
  if (!verify(null, signed, key.key, sig)) {
    throw new SignatureError("bad-signature", `signature check failed: ${file} does not match the signed bytes (key ${keyId})`, "the manifest was changed after signing, or the signature belongs to another file; sign it again");
  }
  const trustedComment = ls[2]!.slice(TRUSTED_PREFIX.length);
  if (!verify(null, Buffer.concat([sig, Buffer.from(trustedComment, "utf8")]), key.key, global)) {
    throw new SignatureError("bad-trusted-comment", `signature check failed: the trusted comment in ${file} was altered (global signature invalid, key ${keyId})`, "sign the manifest again");
  }
  return { keyId, keySource: key.source, trustedComment, algorithm: alg };
}

/** ebpfctl's trusted comment for a recipe signature: name, version and the object pin (read leniently). */
export function recipeTrustedComment(name: string, manifest: string): string {
  const version = /^version:\s*["']?([^\s"'#]+)/m.exec(manifest)?.[1] ?? "unknown";
  const pin = /^\s+sha256:\s*["']?([0-9a-f]{64})/m.exec(manifest)?.[1];
  return `ebpfctl recipe ${name} ${version}${pin ? ` sha256:${pin}` : ""}`;
}
