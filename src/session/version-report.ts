import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { release, arch } from "node:os";
import { libbpfVersion } from "../libbpf";
import { BUILD_INFO } from "../../build/embedded";

let binaryHash: string | undefined;
/** SHA-256 of the running executable (the compiled binary, or bun when run from source). */
export function binarySha256(): string {
  // /proc/self/exe still reads the running image if the file was replaced or deleted meanwhile.
  binaryHash ??= createHash("sha256").update(readFileSync(existsSync("/proc/self/exe") ? "/proc/self/exe" : process.execPath)).digest("hex");
  return binaryHash;
}

export function versionReport() {
  return { version: BUILD_INFO.version, built: BUILD_INFO.built, libbpf: libbpfVersion(), kernel: release(), arch: arch(), binarySha256: binarySha256() };
}
