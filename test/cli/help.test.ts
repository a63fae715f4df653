// Help from the CLI, through the compiled binary: trace RECIPE --help and explain show that
// recipe (its parameters as recipes/*.yaml declare them), the bash completion script completes
// commands, options and every recipe in recipes/ when bash sources it, and the generated man page
// renders with man(1) without groff warnings.
import { expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { EBPFCTL } from "../helpers/trace";

const ROOT = join(import.meta.dir, "../..");
const recipes = readdirSync(join(ROOT, "recipes")).filter((f) => f.endsWith(".yaml")).map((f) => f.replace(/\.yaml$/, "")).sort();
const run = (args: string[]) => {
  const r = Bun.spawnSync([EBPFCTL, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

test("trace RECIPE --help and explain RECIPE show that recipe's parameters and columns", () => {
  for (const name of ["execsnoop", "runqlat"]) {
    const yaml = readFileSync(join(ROOT, "recipes", `${name}.yaml`), "utf8");
    const params = [...yaml.split("parameters:")[1]!.split(/\n\S/)[0]!.matchAll(/^  ([a-z_]+):/gm)].map((m) => m[1]!);
    for (const args of [["trace", name, "--help"], ["explain", name]]) {
      const r = run(args);
      expect(r.code).toBe(0);
      expect(r.stdout.startsWith(`${name} `)).toBe(true);
      const flags = { pid: "--pid", uid: "--uid", comm: "--comm", cgroup: "--cgroup", errors_only: "--errors-only", per_process: "--per-process" } as Record<string, string>;
      for (const p of params) if (flags[p]) expect(r.stdout).toContain(flags[p]);
      expect(r.stdout).toContain("Budgets (default / ceiling)");
    }
  }
  expect(run(["explain", "execsnoop"]).stdout).toContain("On this kernel");
});

test("bash completion: commands, subcommands, options and every recipe", () => {
  const script = run(["completion", "bash"]);
  expect(script.code).toBe(0);
  const complete = (words: string[]) => {
    const r = Bun.spawnSync(["bash", "-c", `source /dev/stdin; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _ebpfctl; echo "\${COMPREPLY[@]}"`], { stdin: new TextEncoder().encode(script.stdout), stdout: "pipe" });
    return r.stdout.toString().trim().split(/\s+/).filter(Boolean).sort();
  };
  expect(complete(["ebpfctl", "tra"])).toEqual(["trace"]);
  expect(complete(["ebpfctl", "audit", ""])).toEqual(["init", "rotate", "show", "tail", "verify"]);
  expect(complete(["ebpfctl", "trace", ""])).toEqual(recipes);
  expect(complete(["ebpfctl", "trace", "execsnoop", "--time"])).toEqual(["--timestamp"]);
  expect(complete(["ebpfctl", "trace", "execsnoop", "-o", ""])).toEqual(["json", "openmetrics", "table"]);
  for (const shell of ["zsh", "fish"]) expect(run(["completion", shell]).stdout).toContain("ebpfctl");
  expect(run(["completion", "tcsh"]).code).toBe(2);
});

test("the man page renders without warnings and lists every command", () => {
  const page = run(["man"]).stdout;
  const r = Bun.spawnSync(["man", "--warnings", "-l", "-"], { stdin: new TextEncoder().encode(page), stdout: "pipe", stderr: "pipe", env: { ...process.env, MANWIDTH: "80", MAN_KEEP_FORMATTING: "0" } });
  expect(r.stderr.toString()).toBe("");
  const text = r.stdout.toString().replace(/.\x08/g, ""); // overstrike bold and underline
  for (const c of ["ebpfctl trace", "ebpfctl audit show", "ebpfctl explain", "ebpfctl completion", "ebpfctl kill-switch on"]) expect(text).toContain(c);
});
