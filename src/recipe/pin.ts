/**
 * Pin an object's SHA-256 in manifest text, keeping the operator's formatting: the signature
 * covers these exact bytes, so the pin is written into the text rather than re-serialised.
 */
export function pinObjectHash(manifest: string, sha256: string): string {
  const lines = manifest.split("\n");
  const objIdx = lines.findIndex((l) => /^object:\s*$/.test(l));
  if (objIdx < 0) throw new Error("manifest has no object: block to pin");
  let end = objIdx + 1;
  while (end < lines.length && /^\s+\S/.test(lines[end]!)) end++;
  const block = lines.slice(objIdx + 1, end).filter((l) => !/^\s+sha256:/.test(l));
  const indent = /^(\s+)/.exec(block[0] ?? "  ")?.[1] ?? "  ";
  return [...lines.slice(0, objIdx + 1), ...block, `${indent}sha256: ${sha256}`, ...lines.slice(end)].join("\n");
}
