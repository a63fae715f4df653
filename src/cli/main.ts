#!/usr/bin/env bun
import { Cli, Builtins } from "clipanion";
import { COMMANDS } from "./commands";
import { BUILD_INFO } from "../../build/embedded";

const cli = new Cli({ binaryLabel: "ebpfctl", binaryName: "ebpfctl", binaryVersion: BUILD_INFO.version, enableCapture: false });
cli.register(Builtins.HelpCommand);
for (const c of COMMANDS) cli.register(c);

// No top-level await: scripts/build compiles with --bytecode, which needs the CommonJS format
// (precompiled bytecode roughly halves startup; see docs/benchmarks.md).
void (async () => {
  const code = await cli.run(process.argv.slice(2), Cli.defaultContext);
  await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
  process.exit(code);
})();
