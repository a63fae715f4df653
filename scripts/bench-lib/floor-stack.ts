// bench-startup --floor: the fixed stack's share of `ebpfctl trace` start-up, compiled like
// dist/ebpfctl: Bun, clipanion and zod/mini loaded, and a command line parsed by a command shaped
// like `trace` (one positional, 24 string options of which 11 have a short alias, 5 booleans),
// before any ebpfctl code would run.
import { Builtins, Cli, Command, Option } from "clipanion";
import { config as zodConfig } from "zod/mini";

zodConfig({ jitless: true });

const SHORT = "pucmFsdoiPx";
class TraceShaped extends Command {
  static paths = [["trace"]];
  recipe = Option.String({ required: false, name: "recipe" });
  constructor() {
    super();
    const self = this as unknown as Record<string, unknown>;
    for (let i = 0; i < 24; i++) self[`s${i}`] = Option.String(i < 11 ? `-${SHORT[i]},--string-option-${i}` : `--string-option-${i}`);
    for (let i = 0; i < 5; i++) self[`b${i}`] = Option.Boolean(`--boolean-option-${i}`, false);
  }
  async execute(): Promise<number> {
    process.stderr.write("ready\n");
    await new Promise((r) => setTimeout(r, 60_000));
    return 0;
  }
}

const cli = new Cli({ binaryName: "floor", enableColors: false });
cli.register(Builtins.HelpCommand);
cli.register(TraceShaped);
void cli.run(process.argv.slice(2), Cli.defaultContext);
