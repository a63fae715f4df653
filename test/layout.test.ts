// The layout is the architecture: every folder under src/ has a rank, a file imports only from its
// own rank or lower, and folders never import each other in a cycle. Read from the sources' own
// import statements, so a change that breaks the map fails here, not in review.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../src");

/** Lowest first. Keep in step with README's Layout section and each folder's opening comment. */
export const RANKS: Record<string, number> = {
  "errors.ts": 0,
  "units.ts": 0,
  "early-signals.ts": 0,
  files: 0,
  libbpf: 1,
  recipe: 1,
  kernel: 2,
  tracepoint: 2,
  oneliner: 3,
  budget: 3,
  audit: 3,
  symbols: 3,
  verifier: 3,
  host: 3,
  forensics: 3,
  session: 4,
  output: 5,
  trace: 6,
  cli: 7,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** The src/ folder a path belongs to ("errors.ts" for the root file), or null outside src/. */
export function folderOf(path: string): string | null {
  const rel = relative(SRC, path);
  if (rel.startsWith("..")) return null;
  const top = rel.split("/")[0]!;
  // a top-level module: an import names it without its extension
  if (rel.includes("/") || top.endsWith(".ts") || existsSync(join(SRC, top))) return top;
  return `${top}.ts`;
}

export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2]!;
    if (spec.startsWith(".")) out.push(resolve(dirname(file), spec));
  }
  return out;
}

/** Edges between folders: [from, to, example file]. */
export function folderEdges(files: { path: string; text: string }[]): [string, string, string][] {
  const edges: [string, string, string][] = [];
  for (const f of files) {
    const from = folderOf(f.path)!;
    for (const target of importsOf(f.path, f.text)) {
      const to = folderOf(target);
      if (to && to !== from) edges.push([from, to, relative(SRC, f.path)]);
    }
  }
  return edges;
}

export function layerViolations(edges: [string, string, string][], ranks: Record<string, number>): string[] {
  return edges
    .filter(([from, to]) => (ranks[to] ?? Infinity) > (ranks[from] ?? -Infinity))
    .map(([from, to, file]) => `${file}: ${from} (rank ${ranks[from]}) imports ${to} (rank ${ranks[to] ?? "unranked"})`);
}

export function folderCycles(edges: [string, string, string][]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const [a, b] of edges) (graph.get(a) ?? graph.set(a, new Set()).get(a)!).add(b);
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, "open");
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === "open") cycles.push([...stack.slice(stack.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, "done");
  };
  for (const n of graph.keys()) if (!state.has(n)) visit(n);
  return cycles;
}

const files = sourceFiles(SRC).map((path) => ({ path, text: readFileSync(path, "utf8") }));
const edges = folderEdges(files);

describe("layout", () => {
  test("every folder under src/ has a rank", () => {
    const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory() || n.endsWith(".ts"));
    expect(folders.filter((f) => !(f in RANKS))).toEqual([]);
  });

  test("no file imports from a higher layer", () => {
    expect(layerViolations(edges, RANKS)).toEqual([]);
  });

  test("no import cycle between folders", () => {
    expect(folderCycles(edges)).toEqual([]);
  });

  test("only src/libbpf uses bun:ffi", () => {
    const users = files.filter((f) => /from\s*["']bun:ffi["']/.test(f.text)).map((f) => folderOf(f.path));
    expect([...new Set(users)]).toEqual(["libbpf"]);
  });

  test("each folder opens with a README saying what it owns and what it may import", () => {
    const missing = Object.keys(RANKS)
      .filter((f) => !f.endsWith(".ts"))
      .filter((f) => {
        try {
          const text = readFileSync(join(SRC, f, "README.md"), "utf8");
          return !/^Owns: /m.test(text) || !/^May import: /m.test(text);
        } catch {
          return true;
        }
      });
    expect(missing).toEqual([]);
  });

  test("test/ mirrors src/: every test folder has a src/ twin (helpers, fixtures and fleet, which tests deploy/, are shared)", () => {
    const TEST = resolve(import.meta.dir);
    const shared = new Set(["helpers", "fixtures", "fleet"]);
    const orphans = readdirSync(TEST).filter((n) => statSync(join(TEST, n)).isDirectory() && !shared.has(n) && !existsSync(join(SRC, n)));
    expect(orphans).toEqual([]);
  });

  test("src/session keeps only one session's lifecycle (about 10 files at most)", () => {
    expect(readdirSync(join(SRC, "session")).length).toBeLessThanOrEqual(10);
  });
});

describe("layout checker (pure)", () => {
  test("flags an upward import and a cycle", () => {
    const fake = [
      { path: join(SRC, "kernel/a.ts"), text: 'import { x } from "../session/b";' },
      { path: join(SRC, "session/b.ts"), text: 'import type { y } from "../kernel/a";\nexport const z = 1;' },
    ];
    const e = folderEdges(fake);
    expect(layerViolations(e, RANKS)).toEqual(["kernel/a.ts: kernel (rank 2) imports session (rank 4)"]);
    expect(folderCycles(e)).toEqual([["kernel", "session", "kernel"]]);
  });
  test("dynamic imports count", () => {
    expect(importsOf(join(SRC, "cli/x.ts"), 'const m = await import("../trace/run-trace");')).toEqual([join(SRC, "trace/run-trace")]);
  });
});
