// The CLI proper, loaded by main.ts once the stop-signal handlers are in place.
import { Cli, Builtins } from "clipanion";
import { commandsFor } from "./commands";
import { config as zodConfig } from "zod/mini";
import { BUILD_INFO } from "../../build/embedded";
import { diagnoseUsage } from "./usage-errors";
import { writeError } from "./base";
import { asEbpfctlError } from "../errors";

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

/** The last -o/--output before "--" is json (the last one wins, as when clipanion parses): errors become JSON records. */
function wantsJson(args: string[]): boolean {
  const end = args.indexOf("--");
  const a = end < 0 ? args : args.slice(0, end);
  const given = a.flatMap((t, i) => (t === "-o" || t === "--output" ? [a[i + 1]] : /^(?:--output=|-o=?)(.+)$/.exec(t)?.slice(1) ?? []));
  return given.at(-1) === "json";
}

/** `trace RECIPE --help`: that recipe's help (parameters, columns, budgets), not trace's. */
function recipeHelpFor(args: string[]): string | undefined {
  if (args[0] !== "trace" || !(args.includes("--help") || args.includes("-h"))) return undefined;
  const name = args.slice(1).find((t) => !t.startsWith("-"));
  if (!name) return undefined;
  const { recipeHelp, embeddedRecipeNames } = require("./recipe-help") as typeof import("./recipe-help");
  return embeddedRecipeNames().includes(name) ? recipeHelp(name) : undefined;
}

// No top-level await: scripts/build compiles with --bytecode, which needs the CommonJS format
// (precompiled bytecode roughly halves startup; see docs/benchmarks.md).
void (async () => {
  let code: number;
  const help = recipeHelpFor(argv);
  if (help !== undefined) {
    process.stdout.write(help);
    code = 0;
  } else {
    let command;
    try {
      command = cli.process(argv, Cli.defaultContext);
    } catch (e) {
      // Clipanion refused the line: one catalog error naming the bad token, exit 2 (never its dump).
      const recipes = argv[0] === "trace" ? (require("./recipe-help") as typeof import("./recipe-help")).embeddedRecipeNames() : [];
      const err = e instanceof Error && /Syntax|UsageError/.test(e.name) ? diagnoseUsage(argv, cli.definitions(), recipes) : asEbpfctlError(e);
      const json = wantsJson(argv);
      // JSON mode: an `end` record follows on every path, a line refused at parse time included.
      writeError(process.stderr, err, { json, end: json, recipe: argv[0] === "trace" && argv[1] && !argv[1].startsWith("-") ? argv[1] : null });
      command = undefined;
      code = err.exitCode;
    }
    if (command) code = await cli.run(command, Cli.defaultContext);
    else code ??= 2;
  }
  await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
  process.exit(code);
})();
