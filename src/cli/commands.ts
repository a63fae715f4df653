// The command classes ebpfctl registers, one file each, loaded by the first word of the command
// line. Clipanion compiles a state machine over every registered command before it parses, and
// evaluating every command's modules costs more: `trace` loads and registers only itself
// (docs/benchmarks.md). Anything else (no word, --help, a typo) gets every command, so the help
// and "did you mean" output stay complete.
import type { CommandClass } from "clipanion";

/* eslint-disable @typescript-eslint/no-require-imports -- require() keeps each group lazy in the bundle */
const GROUPS: Record<string, () => CommandClass[]> = {
  trace: () => [require("./trace").TraceCommand],
  list: () => [require("./list").ListCommand],
  probes: () => [require("./probes").ProbesCommand],
  version: () => [require("./version").VersionCommand],
  "--version": () => [require("./version").VersionCommand],
  "-V": () => [require("./version").VersionCommand],
  doctor: () => [require("./doctor").DoctorCommand],
  keys: () => [require("./keys-generate").KeysGenerateCommand, require("./keys-list").KeysListCommand],
  recipe: () => [require("./recipe-sign").RecipeSignCommand, require("./recipe-verify").RecipeVerifyCommand, require("./recipe-inspect").RecipeInspectCommand],
  audit: () => [require("./audit-init").AuditInitCommand, require("./audit-show").AuditShowCommand, require("./audit-verify").AuditVerifyCommand, require("./audit-tail").AuditTailCommand, require("./audit-rotate").AuditRotateCommand],
  verify: () => [require("./verify").VerifyCommand],
  "kill-switch": () => {
    const k = require("./kill-switch");
    return [k.KillSwitchOnCommand, k.KillSwitchOffCommand, k.KillSwitchStatusCommand];
  },
  ps: () => [require("./ps").PsCommand],
  stop: () => [require("./stop").StopCommand],
  bundle: () => [require("./bundle").BundleCommand],
  explain: () => [require("./explain").ExplainCommand],
  // Generated from every command's definition: they need them all registered.
  completion: () => allCommands(),
  man: () => allCommands(),
};

/** Every command, in the order `ebpfctl --help` lists them. */
export function allCommands(): CommandClass[] {
  const order = ["audit", "version", "list", "probes", "trace", "explain", "doctor", "keys", "recipe", "verify", "kill-switch", "ps", "stop", "bundle"];
  return [...order.flatMap((g) => GROUPS[g]!()), require("./completion").CompletionCommand, require("./man").ManCommand];
}

/** The commands the command line can select: its first word's group, or every command. */
export function commandsFor(argv: string[]): CommandClass[] {
  const first = argv[0];
  const group = first !== undefined && Object.hasOwn(GROUPS, first) ? GROUPS[first] : undefined;
  return group ? group() : allCommands();
}
