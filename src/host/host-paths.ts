// Where host-wide state lives: /run/ebpfctl (EBPFCTL_RUN_DIR) is tmpfs, gone at reboot (sessions,
// the kill switch, caches of what this boot's kernel does); /var/cache/ebpfctl (EBPFCTL_CACHE_DIR)
// holds what may be recomputed but should survive a reboot (the executable's digest, minimised
// kernel BTF per kernel image);
// /etc/ebpfctl (EBPFCTL_CONFIG_DIR) is configuration.
import { mkdirSync } from "node:fs";
import { writeNewFileAtomic } from "../files/regular-file";
import { join } from "node:path";
import { runDirUnwritable } from "../errors";
export { configDir } from "../recipe/policy";

export const runDir = (): string => process.env.EBPFCTL_RUN_DIR ?? "/run/ebpfctl";
export const cacheDir = (): string => process.env.EBPFCTL_CACHE_DIR ?? "/var/cache/ebpfctl";
export const sessionsDir = (): string => join(runDir(), "sessions");

/** mkdir -p, with an error that names the directory (exit 10) instead of a raw EACCES. */
export function ensureDir(dir: string, mode = 0o755): string {
  try {
    mkdirSync(dir, { recursive: true, mode });
  } catch (e) {
    throw runDirUnwritable(dir, (e as NodeJS.ErrnoException).code ?? String(e));
  }
  return dir;
}

/**
 * Write a file so readers never see half of it: a new temporary beside it (O_CREAT|O_EXCL|
 * O_NOFOLLOW: a planted symlink is never followed), then rename(2). Never chmods an existing file.
 */
export function writeAtomic(path: string, text: string, mode = 0o644): void {
  writeNewFileAtomic(path, text, mode);
}
