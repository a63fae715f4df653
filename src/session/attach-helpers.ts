import type { Manifest } from "../recipe/manifest";
import type { AttachContext } from "./attach";
import type { ParameterValues } from "./params";

/** Attach-time resolvers a recipe needs beyond its SEC() names (uprobe offsets, perf events). */
export function attachHelpers(_manifest: Manifest, _params: ParameterValues): Omit<AttachContext, "params"> {
  return {};
}
