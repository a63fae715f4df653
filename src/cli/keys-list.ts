import { Command } from "clipanion";
import { snakeKeys } from "../output/records";
import Table from "cli-table3";
import { EbpfctlCommand, outputOption } from "./base";
import { loadTrustedKeys } from "../recipe/trust";
import { configDir } from "../recipe/policy";

export class KeysListCommand extends EbpfctlCommand {
  static paths = [["keys", "list"]];
  static usage = Command.Usage({
    description: "List the public keys this host trusts to sign recipes",
    details: `
      The keys embedded in the binary at build time, plus every <config>/trusted-keys/*.pub
      (<config> is $EBPFCTL_CONFIG_DIR or /etc/ebpfctl). A key file that is not root-owned, or sits
      in a directory writable by others, is refused with an error rather than skipped.
    `,
    examples: [["List trusted keys", "ebpfctl keys list"], ["As JSON", "ebpfctl keys list --output json"]],
  });
  output = outputOption();

  async run(): Promise<number> {
    const keys = loadTrustedKeys().map((k) => ({ keyId: k.keyId, source: k.source, comment: k.untrustedComment ?? "", publicKey: k.base64 }));
    if (this.output === "json") {
      this.context.stdout.write(JSON.stringify(snakeKeys({ configDir: configDir(), keys })) + "\n");
      return 0;
    }
    const t = new Table({ head: ["KEY ID", "SOURCE", "COMMENT"], style: { head: [], border: [] } });
    for (const k of keys) t.push([k.keyId, k.source, k.comment]);
    this.context.stdout.write(t.toString() + "\n");
    return 0;
  }
}
