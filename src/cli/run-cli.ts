// The CLI proper, loaded by main.ts once the stop-signal handlers are in place.
import { Cli, Builtins } from "clipanion";
import { commandsFor } from "./commands";
import { config as zodConfig } from "zod/mini";
import { BUILD_INFO } from "../../build/embedded";

// A CLI run parses each schema about once: zod's generated fast path (compiled with new Function
// on first use) costs more than it saves here.
zodConfig({ jitless: true });

// Help and usage errors: colour only when stdout is a terminal and NO_COLOR is unset (clipanion's
// own guess looks at the terminal type, not at where the output goes).
const enableColors = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const cli = new Cli({ binaryLabel: "ebpfctl", binaryName: "ebpfctl", binaryVersion: BUILD_INFO.version, enableCapture: false, enableColors });
cli.register(Builtins.HelpCommand);
const argv = process.argv.slice(2);
for (const c of commandsFor(argv)) cli.register(c);

// No top-level await: scripts/build compiles with --bytecode, which needs the CommonJS format
// (precompiled bytecode roughly halves startup; see docs/benchmarks.md).
void (async () => {
  const code = await cli.run(argv, Cli.defaultContext);
  await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
  process.exit(code);
})();
