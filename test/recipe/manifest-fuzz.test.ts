// Fuzz the manifest entry point with ≥10,000 inputs derived from the real recipes: byte flips,
// deleted/duplicated/swapped lines, truncation, re-indentation and random values put in place
// of real ones. parseManifest must either accept or throw an EbpfctlError (EBPFCTL-E0011) whose
// message is one line naming the file and, per problem, a field path or "not valid YAML".
// Deterministic (seeded) so a failure reproduces; the failing input is printed.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EbpfctlError } from "../../src/errors";
import { parseManifest } from "../../src/recipe/manifest";
import { repoRoot } from "./helpers";

const SEED = Number(process.env.EBPFCTL_FUZZ_SEED ?? 0x5eed);
const TOTAL = 12_000;
const TOP_LEVEL = "name|version|summary|kind|object|event|aggregate|probes|parameters|columns|maps|verify|budgets";

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

const RANDOM_VALUES = [
  "", "0", "-1", "1e309", "NaN", ".inf", "-.inf", "null", "~", "true", "no", "[]", "{}", "[1, 2", "{a: 1", "\"unterminated", "'x'",
  "99999999999999999999999", "0x10", "1.5.6", "64MiB", "64XiB", "1h", "-5s", "5%", "101%", "abc", "ABC", "a b", "&anchor x", "*alias",
  "!!binary aGVsbG8=", "!!str 5", "|", ">", "- item", "'\u0000'", "\"\\u0000\"", "é", "日本", "🙂", "x".repeat(5000), "1.0.0", "stream",
  "aggregate", "tracepoint", "kprobe", "opensnoop.bpf.o", "../../etc/passwd", "A".repeat(64), "f".repeat(64), "{ program: p, type: kprobe }",
];

function mutate(src: string, r: () => number): string {
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)]!;
  const lines = src.split("\n");
  const n = 1 + Math.floor(r() * 3);
  let text = src;
  for (let k = 0; k < n; k++) {
    const ls = text.split("\n");
    const i = Math.floor(r() * ls.length);
    switch (Math.floor(r() * 9)) {
      case 0: { // flip a byte
        const b = Buffer.from(text);
        if (b.length) b[Math.floor(r() * b.length)]! ^= 1 << Math.floor(r() * 8);
        text = b.toString("latin1");
        break;
      }
      case 1: // delete a line
        ls.splice(i, 1);
        text = ls.join("\n");
        break;
      case 2: // duplicate a line
        ls.splice(i, 0, ls[i] ?? "");
        text = ls.join("\n");
        break;
      case 3: { // swap two lines
        const j = Math.floor(r() * ls.length);
        [ls[i], ls[j]] = [ls[j]!, ls[i]!];
        text = ls.join("\n");
        break;
      }
      case 4: // truncate
        text = text.slice(0, Math.floor(r() * text.length));
        break;
      case 5: // re-indent a line
        ls[i] = " ".repeat(Math.floor(r() * 6)) + (ls[i] ?? "").trimStart();
        text = ls.join("\n");
        break;
      case 6: // random value in a "key: value" (block or flow) position
      case 7: {
        const line = ls[i] ?? "";
        const m = /^(\s*(?:- )?(?:\{ )?[A-Za-z_]+:\s*)([^,}#]*)(.*)$/.exec(line);
        if (m) ls[i] = m[1] + pick(RANDOM_VALUES) + m[3];
        else ls[i] = `${line} ${pick(RANDOM_VALUES)}`;
        text = ls.join("\n");
        break;
      }
      case 8: // a line from elsewhere in the file, or an unknown key
        ls.splice(i, 0, r() < 0.5 ? pick(lines) : `${pick(["nmae", "budget", "probes", "x_extra"])}: ${pick(RANDOM_VALUES)}`);
        text = ls.join("\n");
        break;
    }
  }
  return text;
}

test(`parseManifest survives ≥10,000 mutated manifests (seed ${SEED})`, () => {
  const files = readdirSync(join(repoRoot, "recipes")).filter((f) => f.endsWith(".yaml")).sort();
  expect(files.length).toBeGreaterThan(0);
  const r = rng(SEED);
  let total = 0;
  let accepted = 0;
  let slowest = 0;
  const perFile = Math.ceil(TOTAL / files.length);
  for (const f of files) {
    const src = readFileSync(join(repoRoot, "recipes", f), "utf8");
    expect(() => parseManifest(src, f)).not.toThrow(); // the originals are valid
    for (let k = 0; k < perFile; k++) {
      const text = mutate(src, r);
      const file = `recipes/${f}#${k}`;
      const t0 = performance.now();
      try {
        parseManifest(text, file);
        accepted++;
      } catch (e) {
        if (!(e instanceof EbpfctlError)) throw new Error(`non-catalog error ${String(e)} for input:\n${text}`);
        const msg = e.message;
        const ok =
          e.code === "EBPFCTL-E0011" &&
          !/[\r\n]/.test(msg) &&
          msg.startsWith(`${file}: `) &&
          // "path.to.field: message" (paths start at a top-level key), "(top level): …" or "not valid YAML: …"
          new RegExp(`^(not valid YAML: |\\(top level\\): |(${TOP_LEVEL})[.:])`).test(msg.slice(file.length + 2));
        if (!ok) throw new Error(`bad rejection message ${JSON.stringify(msg)} (${e.code}) for input:\n${text}`);
      }
      slowest = Math.max(slowest, performance.now() - t0);
      total++;
    }
  }
  expect(total).toBeGreaterThanOrEqual(10_000);
  expect(slowest).toBeLessThan(2000); // no input made the parser crawl
  // The fuzzer exercises both paths, not only trivially broken YAML.
  expect(accepted).toBeGreaterThan(50);
  expect(total - accepted).toBeGreaterThan(total / 2);
}, 60_000);
