import { lib } from "./ffi";
export function libbpfVersion(): string {
  return lib().libbpf_version_string().toString();
}
