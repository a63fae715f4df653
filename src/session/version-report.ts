import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { release, arch } from "node:os";
import { libbpfVersion } from "../libbpf";
import { BUILD_INFO } from "../../build/embedded";

let binaryHash: string | undefined;
/** SHA-256 of the running executable (the compiled binary, or bun when run from source). */
export function binarySha256(): string {
  binaryHash ??= createHash("sha256").update(readFileSync(process.execPath)).digest("hex");
  return binaryHash;
}

export function versionReport() {
  return { version: BUILD_INFO.version, built: BUILD_INFO.built, libbpf: libbpfVersion(), kernel: release(), arch: arch(), binarySha256: binarySha256() };
}
