// The recipe list as an SRE sees it: every recipe found, whether it verifies (and who signed
// it), and its profile on this kernel. Reads manifests and probes the kernel; loads no recipe.
import { allRecipeSources, verifyRecipe } from "../recipe/trust";
import { parseManifest } from "../recipe/manifest";
import { kernelFeatures } from "../kernel/features";
import { selectProfile, type Profile } from "../kernel/profile";
import { asEbpfctlError } from "../errors";
import { readKernelFacts } from "../kernel/facts";
import { checkLoadability } from "../verifier/load-check";
import { cacheDir } from "../host/host-paths";

export interface CatalogEntry {
  name: string;
  origin: string;
  version?: string;
  kind?: string;
  summary?: string;
  verified: boolean;
  signer?: string;
  trusted_comment?: string;
  refusal?: string;
  profile: Profile | "unknown";
  reasons: string[];
  /** Probes not on their preferred variant: "connect→tracepoint". */
  fallbacks: string[];
}

export function recipeCatalog(): CatalogEntry[] {
  const facts = readKernelFacts();
  const features = kernelFeatures({ facts });
  // What the verifier really accepts here (loaded once per kernel image, then remembered): a
  // recipe whose preferred variant is refused is never listed as full.
  const sources = allRecipeSources();
  const { outcomes } = checkLoadability(facts, features, { dir: cacheDir(), recipes: [...new Set(sources.map((s) => s.name))] });
  return sources.map((src) => {
    const e: CatalogEntry = { name: src.name, origin: src.origin, verified: false, profile: "unknown", reasons: [], fallbacks: [] };
    let objectSha256: string | undefined;
    try {
      const v = verifyRecipe(src);
      objectSha256 = v.objectSha256;
      e.verified = true;
      e.signer = v.signer?.keyId;
      e.trusted_comment = v.signer?.trustedComment;
    } catch (err) {
      e.refusal = asEbpfctlError(err).message;
    }
    try {
      const m = parseManifest(src.manifestText, src.manifestFile);
      e.version = m.version;
      e.kind = m.kind;
      e.summary = m.summary;
      const sha = objectSha256 ?? m.object.sha256 ?? "";
      const sel = selectProfile(m, features, (alt) => outcomes.refusal(sha, alt.program));
      e.profile = sel.profile;
      e.reasons = sel.reasons;
      e.fallbacks = sel.probes.filter((p) => p.chosenIndex !== 0).map((p) => `${p.name}→${p.chosen ? `${p.chosen.type} (${p.chosen.program})` : "none"}`);
    } catch (err) {
      e.refusal ??= asEbpfctlError(err).message;
    }
    return e;
  });
}
