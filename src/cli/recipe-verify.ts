import { Command, Option } from "clipanion";
import { snakeKeys } from "../output/records";
import { EbpfctlCommand, outputOption } from "./base";
import { usageError } from "../errors";
import { loadVerifiedRecipe } from "../recipe/trust";

export class RecipeVerifyCommand extends EbpfctlCommand {
  static paths = [["recipe", "verify"]];
  static usage = Command.Usage({
    description: "Check a recipe's signature, object hash pin and schema without loading anything",
    details: `
      Runs the same checks, in the same order, as every trace does before touching the kernel:
      the signature under a trusted key, then the object's SHA-256 against the manifest's pin,
      then the manifest schema. Exits 0 when all pass, 4 (trust) naming the failed check otherwise.
    `,
    examples: [
      ["Verify a built-in or host recipe", "ebpfctl recipe verify opensnoop"],
      ["Verify a recipe file before installing it", "ebpfctl recipe verify --file ./tcpconnect.yaml"],
    ],
  });
  name = Option.String({ name: "NAME", required: false });
  file = Option.String("-f,--file", { description: "Verify the manifest at PATH (signature PATH.minisig, object beside it)" });
  output = outputOption();

  async run(): Promise<number> {
    if (!!this.name === !!this.file) throw usageError("give a recipe NAME or --file PATH (one of them)", "ebpfctl recipe verify opensnoop");
    const r = loadVerifiedRecipe({ name: this.name, file: this.file });
    const s = r.signer!;
    if (this.output === "json") {
      this.context.stdout.write(JSON.stringify(snakeKeys({ verified: true, name: r.manifest.name, version: r.manifest.version, manifest: r.source.manifestFile, object: r.source.objectFile, objectSha256: r.objectSha256, signer: s })) + "\n");
    } else {
      this.context.stdout.write(
        `verified  ${r.manifest.name} ${r.manifest.version} (${r.source.manifestFile})\n` +
          `signer    key ${s.keyId} (${s.keySource}), ${s.algorithm === "ED" ? "prehashed" : "legacy"} signature\n` +
          `comment   ${s.trustedComment}\nobject    ${r.source.objectFile} sha256:${r.objectSha256}\n`,
      );
    }
    return 0;
  }
}
