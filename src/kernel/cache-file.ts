// Caches ebpfctl writes for itself (probe results, minimised BTF, the executable's digest) are
// read only when nobody else could have written them: the file and its directory exist, are not
// symlinks, belong to the effective uid and are not writable by group or others.
import { lstatSync } from "node:fs";
import { dirname } from "node:path";

/** Whether `path` (a regular file, or a directory with `directory`) exists, is ours and is closed to others. */
export function ownedAndPrivate(path: string, directory = false): boolean {
  try {
    const s = lstatSync(path);
    if (directory ? !s.isDirectory() : !s.isFile()) return false;
    return s.uid === (process.geteuid?.() ?? 0) && (s.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** A cache file worth reading: it and the directory holding it pass ownedAndPrivate. */
export function privateCacheFile(path: string): boolean {
  return ownedAndPrivate(dirname(path), true) && ownedAndPrivate(path);
}
