import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { KiB, MiB, readRegularFile, readRegularText, writeNewFileAtomic } from "../files/regular-file";
import { dirname, join, resolve } from "node:path";
import { Command, Option } from "clipanion";
import { EbpfctlCommand } from "./base";
import { ExitCode, usageError } from "../errors";
import { parseSecretKey, recipeTrustedComment, signMessage } from "../recipe/minisign";
import { parseManifest } from "../recipe/manifest";
import { pinObjectHash } from "../recipe/pin";

export class RecipeSignCommand extends EbpfctlCommand {
  static paths = [["recipe", "sign"]];
  static usage = Command.Usage({
    description: "Pin a recipe's object hash and sign its manifest (minisign format)",
    details: `
      If the manifest's object file sits beside it, its SHA-256 is written into object.sha256 first
      (the manifest is edited in place, keeping its formatting). Then MANIFEST.minisig is written,
      signed over the exact manifest bytes, prehashed like modern minisign (--legacy for the old
      format). An encrypted secret key takes its password from $EBPFCTL_SIGNING_KEY_PASSWORD.
      The result verifies with \`minisign -V -p KEY.pub -m MANIFEST\` as well as with ebpfctl.
    `,
    examples: [["Sign a host recipe", "ebpfctl recipe sign /etc/ebpfctl/recipes/tcpconnect.yaml --key ~/keys/sre-team.key"]],
  });
  manifest = Option.String({ name: "MANIFEST" });
  key = Option.String("-k,--key", { required: true, description: "minisign secret key file" });
  trustedComment = Option.String("-t,--trusted-comment", { description: "Trusted (signed) comment; default names the recipe, version and object hash" });
  legacy = Option.Boolean("--legacy", false, { description: "Legacy (non-prehashed) signature, like minisign -l" });

  async run(): Promise<number> {
    const file = resolve(this.manifest);
    if (!existsSync(file)) throw usageError(`${file}: no such manifest`);
    if (!existsSync(this.key)) throw usageError(`${this.key}: no such secret key file`, "make one with \"ebpfctl keys generate -o DIR\"");
    const sk = parseSecretKey(readRegularText(this.key, { what: "secret key", maxBytes: 4 * KiB, exitCode: ExitCode.USAGE }), process.env.EBPFCTL_SIGNING_KEY_PASSWORD, this.key);
    let text = readRegularText(file, { what: "recipe manifest", maxBytes: MiB, exitCode: ExitCode.RECIPE });
    const objName = objectFileName(text);
    const objFile = objName ? join(dirname(file), objName) : undefined;
    let pinned: string | undefined;
    if (objFile && existsSync(objFile)) {
      pinned = createHash("sha256").update(readRegularFile(objFile, { what: "BPF object", maxBytes: 64 * MiB, exitCode: ExitCode.RECIPE })).digest("hex");
      let next: string;
      try {
        next = pinObjectHash(text, pinned);
      } catch (e) {
        throw usageError(`${file}: cannot pin the object hash: ${(e as Error).message}`, "write the object section in block style (object:, then file: on its own line)");
      }
      if (next !== text) {
        text = next;
        writeAtomic(file, text);
      }
    }
    const manifest = parseManifest(text, file); // never sign a manifest that cannot load
    const trustedComment = this.trustedComment ?? recipeTrustedComment(manifest.name, text);
    const sig = signMessage(Buffer.from(text, "utf8"), sk, { trustedComment, untrustedComment: `ebpfctl recipe ${manifest.name}, signed by key ${sk.keyId}`, prehashed: !this.legacy });
    writeAtomic(`${file}.minisig`, sig);
    this.context.stdout.write(
      `${pinned ? `pinned   ${objFile} sha256:${pinned}\n` : `warning: no object beside the manifest; object.sha256 left as is\n`}` +
        `signed   ${file}.minisig (key ${sk.keyId}, ${this.legacy ? "legacy Ed" : "prehashed ED"})\ncomment  ${trustedComment}\n`,
    );
    return 0;
  }
}

function objectFileName(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text);
  } catch {
    return undefined; // parseManifest reports it
  }
  const f = (doc as { object?: { file?: unknown } } | null)?.object?.file;
  return typeof f === "string" && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(f) ? f : undefined;
}

/** A new file renamed over the old one (O_CREAT|O_EXCL|O_NOFOLLOW): a planted symlink is never followed. */
function writeAtomic(file: string, text: string): void {
  writeNewFileAtomic(file, text, 0o644);
}
