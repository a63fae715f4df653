import { existsSync, mkdirSync } from "node:fs";
import { writeExclusive, writeNewFileAtomic } from "../files/regular-file";
import { join, resolve } from "node:path";
import { Command, Option } from "clipanion";
import { EbpfctlCommand } from "./base";
import { usageError } from "../errors";
import { generateKeyPair } from "../recipe/minisign";

export class KeysGenerateCommand extends EbpfctlCommand {
  static paths = [["keys", "generate"]];
  static usage = Command.Usage({
    description: "Generate a minisign key pair for signing recipes",
    details: `
      Writes NAME.pub (the public key, to install in /etc/ebpfctl/trusted-keys/ on the hosts that
      should trust it) and NAME.key (the secret key, unencrypted, mode 0600: keep it off those hosts).
      The files are minisign's own format: \`minisign -V -p NAME.pub\` verifies what this key signs.
    `,
    examples: [
      ["Make a team signing key in ./keys", "ebpfctl keys generate -o ./keys --name sre-team"],
      ["Then trust it on a host", "install -m 0644 -o root ./keys/sre-team.pub /etc/ebpfctl/trusted-keys/"],
    ],
  });
  out = Option.String("-o,--out-dir", { required: true, description: "Directory to write NAME.pub and NAME.key into" });
  name = Option.String("--name", "ebpfctl", { description: "Base name of the key files (default: ebpfctl)" });
  force = Option.Boolean("-f,--force", false, { description: "Overwrite existing key files" });

  async run(): Promise<number> {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(this.name)) throw usageError(`--name ${JSON.stringify(this.name)}: use letters, digits, ".", "_" and "-"`);
    const dir = resolve(this.out);
    const pubFile = join(dir, `${this.name}.pub`);
    const keyFile = join(dir, `${this.name}.key`);
    for (const f of [pubFile, keyFile]) {
      if (existsSync(f) && !this.force) throw usageError(`${f} already exists`, "choose another --name or pass --force to overwrite it");
    }
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const kp = generateKeyPair({ untrustedComment: `ebpfctl public key ${this.name}` });
    // New files only (O_EXCL|O_NOFOLLOW); --force replaces by rename, never writing through a symlink.
    const write = this.force ? writeNewFileAtomic : writeExclusive;
    write(keyFile, kp.secretKeyText, 0o600);
    write(pubFile, kp.publicKeyText, 0o644);
    this.context.stdout.write(`key id      ${kp.keyId}\npublic key  ${pubFile}\nsecret key  ${keyFile} (mode 0600, unencrypted: keep it safe)\n`);
    return 0;
  }
}
