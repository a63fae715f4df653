// Where recipes come from: the ones embedded in the binary at build time. (Host recipes under
// /etc/ebpfctl/recipes/ and --recipe-file are added by the trust store, with path checks.)
import { EMBEDDED_RECIPES } from "../../build/embedded";
import { recipeNotFound } from "../errors";

/** A recipe as found, before any check: nothing here has been verified yet. */
export interface RecipeSource {
  name: string;
  /** "embedded" or the manifest's absolute path */
  origin: string;
  manifestFile: string;
  manifestText: string;
  signatureFile: string;
  /** The .minisig text, or undefined when there is none (unsigned). */
  signatureText: string | undefined;
  objectFile: string;
  /** Reads the object bytes; called only after the manifest's signature verified. */
  readObject(): Uint8Array;
}

export function embeddedSources(): RecipeSource[] {
  return EMBEDDED_RECIPES.map((r) => {
    const objName = /^\s+file:\s*(\S+)\s*$/m.exec(r.manifest)?.[1] ?? `${r.name}.bpf.o`;
    return {
      name: r.name,
      origin: "embedded",
      manifestFile: `embedded:recipes/${r.name}.yaml`,
      manifestText: r.manifest,
      signatureFile: `embedded:recipes/${r.name}.yaml.minisig`,
      signatureText: r.signature || undefined,
      objectFile: `embedded:bpf/${objName}`,
      readObject: () => new Uint8Array(Buffer.from(r.object, "base64")),
    };
  });
}

export function findEmbedded(name: string): RecipeSource {
  const all = embeddedSources();
  const s = all.find((r) => r.name === name);
  if (!s) throw recipeNotFound(name, all.map((r) => r.name));
  return s;
}
