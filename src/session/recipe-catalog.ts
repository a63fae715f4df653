// The recipe list as an SRE sees it: every recipe found, whether it verifies (and who signed
// it), and its profile on this kernel. Reads manifests and probes the kernel; loads no recipe.
import { allRecipeSources, verifyRecipe } from "../recipe/trust";
import { parseManifest } from "../recipe/manifest";
import { kernelFeatures } from "../kernel/features";
import { selectProfile, type Profile } from "../kernel/profile";
import { asEbpfctlError } from "../errors";

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
  const features = kernelFeatures();
  return allRecipeSources().map((src) => {
    const e: CatalogEntry = { name: src.name, origin: src.origin, verified: false, profile: "unknown", reasons: [], fallbacks: [] };
    try {
      const v = verifyRecipe(src);
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
      const sel = selectProfile(m, features);
      e.profile = sel.profile;
      e.reasons = sel.reasons;
      e.fallbacks = sel.probes.filter((p) => p.chosenIndex !== 0).map((p) => `${p.name}→${p.chosen?.type ?? "none"}`);
    } catch (err) {
      e.refusal ??= asEbpfctlError(err).message;
    }
    return e;
  });
}
