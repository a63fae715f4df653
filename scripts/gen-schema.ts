// Writes docs/schema/: one JSON Schema per record kind (records/KIND.json) and per recipe's event
// (events/RECIPE.json), from the zod schemas in src/output/schema.ts and each recipe's event
// struct as its BPF object's BTF describes it. Run by scripts/build after the objects are built;
// `--check` exits 1 when docs/schema/ is out of date (test/output/schema.test.ts runs it).
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { BpfObject } from "../src/libbpf/object";
import { parseManifest } from "../src/recipe/manifest";
import { RECORD_SCHEMAS, eventSchema, toJsonSchema } from "../src/output/schema";

const root = new URL("..", import.meta.url).pathname;
export function generateSchemas(): Map<string, string> {
  const files = new Map<string, string>();
  const put = (rel: string, doc: unknown) => files.set(rel, JSON.stringify(doc, null, 2) + "\n");
  for (const [kind, schema] of Object.entries(RECORD_SCHEMAS)) put(`records/${kind}.json`, toJsonSchema(`records/${kind}`, schema));
  for (const file of readdirSync(`${root}recipes`).filter((f) => f.endsWith(".yaml")).sort()) {
    const manifest = parseManifest(readFileSync(`${root}recipes/${file}`, "utf8"), `recipes/${file}`);
    if (!manifest.event) continue;
    const obj = BpfObject.openMemory(new Uint8Array(readFileSync(`${root}build/bpf/${manifest.object.file}`)), manifest.name);
    try {
      put(`events/${manifest.name}.json`, toJsonSchema(`events/${manifest.name}`, eventSchema(manifest, obj.btf().layout(manifest.event.struct))));
    } finally {
      obj.close();
    }
  }
  return files;
}

if (import.meta.main) {
  const files = generateSchemas();
  const check = process.argv.includes("--check");
  const stale: string[] = [];
  for (const [rel, text] of files) {
    const path = `${root}docs/schema/${rel}`;
    if (check) {
      if (!existsSync(path) || readFileSync(path, "utf8") !== text) stale.push(rel);
      continue;
    }
    mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    writeFileSync(path, text);
  }
  if (stale.length) {
    console.error(`docs/schema is out of date: ${stale.join(", ")} (run bun scripts/gen-schema.ts)`);
    process.exit(1);
  }
}
