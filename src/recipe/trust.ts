// The trust store, and the only place a VerifiedRecipe is made. A recipe reaches the kernel only
// after three checks, in this order, each on bytes already in memory (what is checked is what is
// loaded — nothing is read twice):
//   1. signature: the .minisig verifies under a trusted key, over the exact manifest bytes;
//   2. object pin: SHA-256 of the object equals the manifest's object.sha256;
//   3. schema: parseManifest accepts the manifest.
//
// Trusted keys: the ones embedded at build time + <config>/trusted-keys/*.pub.
// Recipes: embedded ones, <config>/recipes/<name>.yaml (+ .yaml.minisig + the object beside it),
// and --recipe-file PATH. Name resolution (findRecipeSource):
//   - a name only the host has → the host recipe;
//   - a name both have → the host recipe overrides the embedded one only if it verifies (signed
//     under a trusted key, pin and schema good); otherwise the refusal is recorded, a warning is
//     printed, and the embedded recipe is used.
// Everything read from <config> is path-checked (src/recipe/trust-path.ts); a refused file is an
// error, never silently skipped. A --recipe-file is not path-checked: the operator named it, and
// its signature and pin are what make it trusted.
//
// <config> is $EBPFCTL_CONFIG_DIR or /etc/ebpfctl.
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { EMBEDDED_PUBLIC_KEYS } from "../../build/embedded";
import { EbpfctlError, ExitCode, objectHashMismatch, objectPinMissing, objectUnreadable, publicKeyInvalid, recipeNameMismatch, recipeNotFound, recipeUnsigned, SignatureError, TrustError, unsignedNotAllowed, usageError } from "../errors";
import { embeddedSources, type RecipeSource } from "./catalog";
import { KiB, MiB, readRegularFile, readRegularText, type ReadPolicy } from "../files/regular-file";
import { parseManifest } from "./manifest";
import { parsePublicKey, verifySignature, type MinisignPublicKey } from "./minisign";
import { configDir, loadPolicy, policyFile } from "./policy";
import { checkTrustedFile, existsPath } from "./trust-path";
import type { Signer, VerifiedRecipe } from "./verified";

export { configDir } from "./policy";

// ---- Trust decisions (refusals and unsigned runs) go to the audit log ----

export interface TrustDecision {
  event: "refused" | "unsigned_run";
  reason: string;
  file: string;
}
export type TrustDecisionHook = (d: TrustDecision) => void;

/** Set by the session (setTrustDecisionHook) to write each decision to the audit log. */
export let onTrustDecision: TrustDecisionHook | undefined;
/** ES module bindings are read-only to importers: assign the hook through this. */
export function setTrustDecisionHook(hook: TrustDecisionHook | undefined): void {
  onTrustDecision = hook;
}

function record(d: TrustDecision): void {
  if (onTrustDecision) onTrustDecision(d);
  else process.stderr.write(`warning: trust decision not audited (no audit log attached): ${d.event} ${d.reason} ${d.file}\n`);
}

// ---- Trusted keys ----

/**
 * Keys embedded at build + <config>/trusted-keys/*.pub. A host key (or the whole directory) that
 * is refused — path check, not a regular file, malformed, a key id clashing with another key — is
 * named in a warning and in the audit log and left out; it never disables the other keys, so a
 * file dropped into trusted-keys/ cannot stop embedded recipes from verifying (a local DoS).
 */
export function loadTrustedKeys(): MinisignPublicKey[] {
  const out: MinisignPublicKey[] = EMBEDDED_PUBLIC_KEYS.map((t) => parsePublicKey(t, "embedded"));
  const root = configDir();
  const dir = join(root, "trusted-keys");
  if (!existsPath(dir)) return out;
  let names: string[];
  try {
    checkTrustedFile(dir, root);
    names = readdirSync(dir).filter((n) => n.endsWith(".pub")).sort();
  } catch (e) {
    refuseKey(dir, e);
    return out;
  }
  for (const f of names) {
    const file = join(dir, f);
    try {
      const k = parsePublicKey(readRegularText(checkTrustedFile(file, root), KEY_READ), file);
      const prev = out.find((o) => o.keyId === k.keyId);
      if (prev && prev.base64 !== k.base64) throw publicKeyInvalid(file, `key id ${k.keyId} is already used by a different key (${prev.source}); remove one of them`);
      if (!prev) out.push(k);
    } catch (e) {
      refuseKey(file, e);
    }
  }
  return out;
}

const KEY_READ: ReadPolicy = { what: "trusted key", maxBytes: 4 * KiB, code: "EBPFCTL-E0313", exitCode: ExitCode.TRUST, noFollow: true };
const warnedKeys = new Set<string>();

/** A host key left out: one warning per file per process, and a `refused` trust decision. */
function refuseKey(file: string, e: unknown): void {
  if (!(e instanceof EbpfctlError)) throw e;
  const err = e as TrustError;
  record({ event: "refused", reason: err.reason ?? err.code, file: err.file ?? file });
  if (warnedKeys.has(file)) return;
  warnedKeys.add(file);
  process.stderr.write(`warning: host trusted key ${file} ignored: ${err.message} [${err.code}]; the embedded and other trusted keys still apply\n`);
}

// ---- Recipe sources ----

const NAME = /^[a-z][a-z0-9-]*$/;

/** Tolerant read of a manifest (used before the schema check): a parsed document or undefined. */
function tolerantDoc(text: string): Record<string, unknown> | undefined {
  try {
    const d = Bun.YAML.parse(text);
    return d && typeof d === "object" && !Array.isArray(d) ? (d as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function tolerantObjectField(text: string, field: "file" | "sha256"): string | undefined {
  const obj = tolerantDoc(text)?.object as Record<string, unknown> | undefined;
  const v = obj && typeof obj === "object" ? obj[field] : undefined;
  if (typeof v === "string") return v;
  if (tolerantDoc(text)) return undefined; // valid YAML without the field
  // Not YAML at all: look for the field in a block-style object: section.
  const block = /^object:[ \t]*\n((?:[ \t]+\S.*(?:\n|$))+)/m.exec(text)?.[1] ?? "";
  return new RegExp(`^[ \\t]+${field}:[ \\t]*["']?([^\\s"'#]+)`, "m").exec(block)?.[1];
}

/** The object's SHA-256 pin as the manifest states it (before schema validation). */
export function readPin(manifestText: string): string | undefined {
  return tolerantObjectField(manifestText, "sha256");
}

/** Caps on what a recipe's files may be: far above any real recipe, far below a hostile /dev/zero. */
const MANIFEST_MAX = MiB;
const SIGNATURE_MAX = 64 * KiB;
const OBJECT_MAX = 64 * MiB;

/**
 * How a recipe file is read: a host recipe (under <config>) is a trust anchor, refused with exit
 * TRUST; a --recipe-file the operator named is refused as a bad recipe (exit RECIPE).
 */
function recipeRead(what: string, maxBytes: number, trusted: boolean): ReadPolicy {
  return trusted
    ? { what, maxBytes, code: "EBPFCTL-E0313", exitCode: ExitCode.TRUST, noFollow: true }
    : { what, maxBytes, exitCode: ExitCode.RECIPE, hint: "give the path of a recipe manifest (.yaml), with its .minisig and object beside it" };
}

function hostSource(manifestPath: string, name: string, root: string | undefined, manifestText?: string): RecipeSource {
  const manifestFile = resolve(manifestPath);
  const trusted = root !== undefined;
  const path = (f: string) => (root ? checkTrustedFile(f, root) : f);
  if (!root && !existsPath(manifestFile)) throw usageError(`${manifestFile}: no such recipe file`);
  const text = manifestText ?? readRegularText(path(manifestFile), recipeRead("recipe manifest", MANIFEST_MAX, trusted));
  const signatureFile = `${manifestFile}.minisig`;
  const signatureText = existsPath(signatureFile) ? readRegularText(path(signatureFile), recipeRead("recipe signature", SIGNATURE_MAX, trusted)) : undefined;
  const objName = tolerantObjectField(text, "file");
  const safeName = objName !== undefined && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(objName);
  const objectFile = join(dirname(manifestFile), safeName ? objName! : `${name}.bpf.o`);
  return {
    name,
    origin: manifestFile,
    manifestFile,
    manifestText: text,
    signatureFile,
    signatureText,
    objectFile,
    readObject(): Uint8Array {
      if (!safeName) throw objectUnreadable(objectFile, `object.file ${JSON.stringify(objName)} is not a plain file name beside the manifest`);
      try {
        return new Uint8Array(readRegularFile(path(objectFile), { ...recipeRead("BPF object", OBJECT_MAX, trusted), code: "EBPFCTL-E0324", exitCode: ExitCode.TRUST }));
      } catch (e) {
        if (e instanceof EbpfctlError) throw e;
        throw objectUnreadable(objectFile, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
      }
    },
  };
}

/** <config>/recipes/<name>.yaml, path-checked, or undefined when there is none. */
export function hostRecipeSource(name: string): RecipeSource | undefined {
  if (!NAME.test(name)) return undefined;
  const root = configDir();
  const file = join(root, "recipes", `${name}.yaml`);
  if (!existsPath(file)) return undefined;
  return hostSource(file, name, root);
}

/** Every <config>/recipes/*.yaml (a refused file is an error). */
export function hostRecipeSources(): RecipeSource[] {
  const root = configDir();
  const dir = join(root, "recipes");
  if (!existsPath(dir)) return [];
  checkTrustedFile(dir, root);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => hostSource(join(dir, f), f.slice(0, -".yaml".length), root));
}

/** --recipe-file PATH: signature at PATH.minisig, object beside the manifest. */
export function recipeSourceFromFile(path: string): RecipeSource {
  const abs = resolve(path);
  if (!existsPath(abs)) throw usageError(`${abs}: no such recipe file`, "give the path of a recipe manifest (.yaml)");
  const text = readRegularText(abs, recipeRead("recipe manifest", MANIFEST_MAX, false));
  const declared = tolerantDoc(text)?.name;
  const name = typeof declared === "string" && NAME.test(declared) ? declared : basename(abs).replace(/\.ya?ml$/, "");
  return hostSource(abs, name, undefined, text);
}

/** Embedded recipes, then host recipes (same-name host entries included: they may override). */
export function allRecipeSources(): RecipeSource[] {
  return [...embeddedSources(), ...hostRecipeSources()];
}

/** The source `name` resolves to (see the header for the override rule). Not yet verified. */
export function findRecipeSource(name: string): RecipeSource {
  const embedded = embeddedSources().find((s) => s.name === name);
  let host: RecipeSource | undefined;
  try {
    host = hostRecipeSource(name);
  } catch (e) {
    const err = e as TrustError;
    if (e instanceof EbpfctlError) record({ event: "refused", reason: err.reason ?? err.code, file: err.file ?? name });
    if (!embedded) throw e;
    process.stderr.write(`warning: host recipe ${name} refused (${err.message}); using the embedded one\n`);
    return embedded;
  }
  if (!host) {
    if (embedded) return embedded;
    const known = [...new Set([...embeddedSources().map((s) => s.name), ...safeHostNames()])];
    throw recipeNotFound(name, known);
  }
  if (!embedded) return host;
  try {
    verifyRecipe(host);
    return host;
  } catch (e) {
    process.stderr.write(`warning: host recipe ${host.manifestFile} does not verify (${(e as Error).message}); using the embedded ${name}\n`);
    return embedded;
  }
}

function safeHostNames(): string[] {
  try {
    return hostRecipeSources().map((s) => s.name);
  } catch {
    return [];
  }
}

// ---- Verification: the only minter of VerifiedRecipe ----

const BRAND = Symbol("verified");
const minted = new WeakSet<object>();

/** True only for a VerifiedRecipe minted by verifyRecipe in this process. */
export function isVerified(x: unknown): x is VerifiedRecipe {
  return typeof x === "object" && x !== null && (x as { brand?: unknown }).brand === BRAND && minted.has(x);
}

function reasonOf(e: EbpfctlError): string {
  if (e instanceof SignatureError || e instanceof TrustError) return e.reason;
  if (e.code === "EBPFCTL-E0011") return "schema-invalid";
  return e.code;
}

/**
 * Run the three checks (signature → object pin → schema) and mint a VerifiedRecipe. Every refusal
 * is one line naming the failed check and the file, exit TRUST (schema: EBPFCTL-E0011, exit
 * RECIPE), and is recorded through onTrustDecision. An unsigned recipe passes only with
 * allowUnsigned and a host policy that sets allow_unsigned: true; its pin, if any, is still checked.
 */
export function verifyRecipe(source: RecipeSource, opts: { allowUnsigned?: boolean } = {}): VerifiedRecipe {
  try {
    const rec = check(source, opts);
    if (rec.signer === null) record({ event: "unsigned_run", reason: "allow_unsigned", file: source.manifestFile });
    return rec;
  } catch (e) {
    if (e instanceof EbpfctlError) {
      record({ event: "refused", reason: reasonOf(e), file: (e as TrustError).file ?? (e instanceof SignatureError ? source.signatureFile : source.manifestFile) });
    }
    throw e;
  }
}

function check(source: RecipeSource, opts: { allowUnsigned?: boolean }): VerifiedRecipe {
  const manifestBytes = Buffer.from(source.manifestText, "utf8");
  // 1. Signature under a trusted key, over the exact manifest bytes.
  let signer: Signer | null;
  if (source.signatureText === undefined) {
    if (!opts.allowUnsigned) throw recipeUnsigned(source.manifestFile, source.signatureFile);
    const policy = loadPolicy();
    if (!policy.allow_unsigned) throw unsignedNotAllowed(source.manifestFile, policy.file ?? `${policyFile()}, absent, so defaults`);
    signer = null;
  } else {
    signer = verifySignature(manifestBytes, source.signatureText, loadTrustedKeys(), source.signatureFile);
  }
  // 2. The object's SHA-256 equals the pin.
  const pin = readPin(source.manifestText);
  if (pin === undefined && signer !== null) throw objectPinMissing(source.manifestFile);
  let object: Uint8Array;
  try {
    object = source.readObject();
  } catch (e) {
    if (e instanceof EbpfctlError) throw e;
    throw objectUnreadable(source.objectFile, (e as Error).message);
  }
  const objectSha256 = createHash("sha256").update(object).digest("hex");
  if (pin !== undefined && pin !== objectSha256) throw objectHashMismatch(source.objectFile, source.manifestFile, pin, objectSha256);
  // 3. Schema.
  const manifest = parseManifest(source.manifestText, source.manifestFile);
  if (manifest.name !== source.name) throw recipeNameMismatch(source.manifestFile, source.name, manifest.name);

  const rec: VerifiedRecipe = Object.freeze({
    manifest,
    manifestText: source.manifestText,
    object,
    objectSha256,
    source: Object.freeze({ origin: source.origin, manifestFile: source.manifestFile, objectFile: source.objectFile }),
    signer: signer && Object.freeze({ ...signer }),
    brand: BRAND,
  });
  minted.add(rec);
  return rec;
}

/** Resolve and verify in one step: by name (embedded/host) or from a --recipe-file path. */
export function loadVerifiedRecipe(ref: { name?: string; file?: string }, opts: { allowUnsigned?: boolean } = {}): VerifiedRecipe {
  if (ref.file) return verifyRecipe(recipeSourceFromFile(ref.file), opts);
  if (!ref.name) throw usageError("name a recipe or give --file PATH");
  return verifyRecipe(findRecipeSource(ref.name), opts);
}
