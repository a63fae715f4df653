import type { Manifest } from "./manifest";

/** Who vouched for a recipe: the minisign key id and the verified trusted comment. */
export interface Signer {
  keyId: string;
  keySource: string;
  trustedComment: string;
  algorithm: "Ed" | "ED";
}

/**
 * A recipe that passed every check in order: signature under a trusted key → object hash equals
 * the pin → manifest schema. The session loads nothing else. Instances are minted only by
 * src/recipe/trust.ts (the brand is module-private there), so no other path can produce one.
 */
export interface VerifiedRecipe {
  readonly manifest: Manifest;
  readonly manifestText: string;
  readonly object: Uint8Array;
  readonly objectSha256: string;
  readonly source: { origin: string; manifestFile: string; objectFile: string };
  /** null only for an --allow-unsigned run the host policy permitted */
  readonly signer: Signer | null;
  readonly brand: symbol;
}
