import { lib } from "./ffi";
export function libbpfVersion(): string {
  return String(lib().libbpf_version_string() ?? "unknown");
}
