// Turns clipanion's parse failures into one catalog error that names the bad token. Clipanion
// parses; when it refuses a command line it only says "Command not found" and dumps every usage.
// Here the refused line is walked against the registered definitions (the same option names
// clipanion used) to find the first token it could not place, and the nearest valid spelling.
import type { Definition } from "clipanion";
import { EbpfctlError, ExitCode } from "../errors";

export const badCommand = (msg: string, hint: string) => new EbpfctlError("EBPFCTL-E0002", msg, ExitCode.USAGE, hint);

interface OptionSpec {
  names: string[];
  takesValue: boolean;
}

/** Options every command accepts though clipanion hides them from its definitions. */
const HIDDEN: OptionSpec[] = [{ names: ["--audit-log"], takesValue: true }, { names: ["-h", "--help"], takesValue: false }];

function optionsOf(def: Definition): OptionSpec[] {
  const own = def.options.map((o) => {
    const [names = "", value] = o.definition.split(" ");
    return { names: names.split(","), takesValue: value !== undefined };
  });
  return [...own, ...HIDDEN];
}

/** How many positionals the usage line allows ("[recipe]", "<file>", "..." for any number). */
function positionalsOf(def: Definition): { max: number; names: string[] } {
  const rest = def.usage.slice(def.path.length);
  const names = [...rest.matchAll(/(?:^|\s)(?:\[([a-z][\w-]*)\]|<([a-z][\w-]*)>)/g)].map((m) => m[1] ?? m[2]!);
  return { max: /\.\.\./.test(rest) ? Infinity : names.length, names };
}

/** Damerau-free edit distance, small inputs only (command and option names). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

/** The closest candidate within a third of the word's length (at least 2 edits), or a prefix match. */
export function nearest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = c.startsWith(word) && word.length >= 3 ? 0.5 : distance(word, c);
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const quote = (t: string) => (t === "" || /[\s"'\\]/.test(t) ? JSON.stringify(t) : t);

/**
 * The catalog error for a command line clipanion refused. `recipes` are offered as suggestions
 * for trace's positional.
 */
export function diagnoseUsage(argv: string[], defs: Definition[], recipes: string[] = []): EbpfctlError {
  const commands = defs.map((d) => ({ def: d, words: d.path.split(" ").slice(1) }));
  // The longest registered path the line starts with.
  const match = commands
    .filter((c) => c.words.length > 0 && c.words.every((w, i) => argv[i] === w))
    .sort((a, b) => b.words.length - a.words.length)[0];
  if (!match) return unknownCommand(argv, commands.map((c) => c.words));
  const { def, words } = match;
  const cmd = words.join(" ");
  const hint = `ebpfctl ${cmd} --help lists its options`;
  // A group word followed by an unknown subcommand ("audit shwo").
  const siblings = commands.filter((c) => c.words.length > words.length && c.words.slice(0, words.length).join(" ") === cmd);
  const opts = optionsOf(def);
  const byName = new Map(opts.flatMap((o) => o.names.map((n) => [n, o] as const)));
  const allNames = [...byName.keys()];
  const { max, names: posNames } = positionalsOf(def);
  let positionals = 0;
  const rest = argv.slice(words.length);
  for (let i = 0; i < rest.length; i++) {
    const tok = rest[i]!;
    if (tok === "--") {
      positionals += rest.length - i - 1;
      if (positionals > max) return badCommand(`unexpected argument ${quote(rest[i + 1 + max]!)} for ebpfctl ${cmd}`, hint);
      break;
    }
    if (tok.startsWith("--")) {
      const eq = tok.indexOf("=");
      const name = eq > 0 ? tok.slice(0, eq) : tok;
      const spec = byName.get(name);
      if (!spec) {
        const s = nearest(name, allNames.filter((n) => n.startsWith("--")));
        return badCommand(`unknown option ${quote(name)}${s ? `; did you mean ${s}?` : ""}`, hint);
      }
      if (spec.takesValue && eq < 0) {
        const next = rest[i + 1];
        if (next === undefined) return badCommand(`option ${name} needs a value`, `write ${name} VALUE; ${hint}`);
        if (next.startsWith("-") && next !== "-") return badCommand(`option ${name} needs a value, got ${quote(next)}`, `write ${name}=${next} if that is the value (negative values are refused); ${hint}`);
        i++;
      } else if (!spec.takesValue && eq > 0) {
        return badCommand(`option ${name} takes no value, got ${quote(tok)}`, hint);
      }
      continue;
    }
    if (tok.startsWith("-") && tok.length > 1 && !/^-\d/.test(tok)) {
      // A short option, or a bundle of short booleans (-xP), possibly with a value (-p1234, -p=1).
      const letters = tok.slice(1).split("=")[0]!;
      for (let k = 0; k < letters.length; k++) {
        const name = `-${letters[k]}`;
        const spec = byName.get(name);
        if (!spec) {
          const long = nearest(`--${tok.slice(1)}`, allNames.filter((n) => n.startsWith("--")));
          const suggestion = letters.length > 1 && long ? long : undefined;
          return badCommand(`unknown option ${quote(letters.length > 1 ? tok : name)}${suggestion ? `; did you mean ${suggestion}?` : ""}`, hint);
        }
        if (spec.takesValue) {
          const inline = tok.slice(2 + k);
          if (inline === "" && rest[i + 1] === undefined) return badCommand(`option ${name} needs a value`, `write ${name} VALUE; ${hint}`);
          if (inline === "" && rest[i + 1]!.startsWith("-") && rest[i + 1] !== "-")
            return badCommand(`option ${name} needs a value, got ${quote(rest[i + 1]!)}`, `write ${name}=${rest[i + 1]} if that is the value (negative values are refused); ${hint}`);
          if (inline === "") i++;
          break;
        }
      }
      continue;
    }
    if (/^-\d/.test(tok)) return badCommand(`unexpected argument ${quote(tok)}: negative numbers are not option values`, hint);
    if (positionals === 0 && siblings.length && max === 0) {
      const sub = siblings.map((s) => s.words[words.length]!);
      const s = nearest(tok, sub);
      return badCommand(`unknown command ebpfctl ${cmd} ${quote(tok)}${s ? `; did you mean ebpfctl ${cmd} ${s}?` : ""}`, `ebpfctl ${cmd} has: ${[...new Set(sub)].join(", ")}`);
    }
    positionals++;
    if (positionals > max) {
      const s = nearest(tok, allNames.map((n) => n.replace(/^-+/, "")));
      return badCommand(`unexpected argument ${quote(tok)} for ebpfctl ${cmd}${posNames.length ? ` (it takes ${posNames.map((n) => n.toUpperCase()).join(" ")})` : ""}${s && s.length > 1 ? `; did you mean --${s}?` : ""}`, hint);
    }
    if (cmd === "trace" && recipes.length && !recipes.includes(tok) && positionals === 1) {
      const s = nearest(tok, recipes);
      return badCommand(`unknown recipe ${quote(tok)}${s ? `; did you mean ${s}?` : ""}`, "ebpfctl list shows the recipes");
    }
  }
  return badCommand(`cannot parse the command line for ebpfctl ${cmd}`, hint);
}

function unknownCommand(argv: string[], paths: string[][]): EbpfctlError {
  const first = argv[0] ?? "";
  const words = [...new Set(paths.map((p) => p[0]).filter((w): w is string => Boolean(w)))];
  if (first.startsWith("-")) {
    const s = nearest(first, ["--help", "--version", "-h", "-V"]);
    return badCommand(`unknown option ${quote(first)}${s ? `; did you mean ${s}?` : ""}`, "ebpfctl --help lists the commands");
  }
  // A group word with an unknown subcommand ("audit shwo").
  const subs = paths.filter((p) => p.length > 1 && p[0] === first).map((p) => p[1]!);
  if (subs.length) {
    const second = argv[1];
    if (second === undefined) return badCommand(`ebpfctl ${first} needs a subcommand: ${subs.join(", ")}`, `ebpfctl ${first} ${subs[0]} --help shows one`);
    const s = nearest(second, subs);
    return badCommand(`unknown command ebpfctl ${first} ${quote(second)}${s ? `; did you mean ebpfctl ${first} ${s}?` : ""}`, `ebpfctl ${first} has: ${subs.join(", ")}`);
  }
  const s = nearest(first, words);
  return badCommand(`unknown command ${quote(first)}${s ? `; did you mean ${s}?` : ""}`, "ebpfctl --help lists the commands");
}
