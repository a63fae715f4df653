import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from "node:fs";
import { MiB, readRegularText } from "../files/regular-file";
import { ExitCode } from "../errors";
import { release, arch } from "node:os";
import { join } from "node:path";
import { libbpfVersion } from "../libbpf";
import { privateCacheFile } from "../kernel/cache-file";
import { cacheDir, writeAtomic } from "../host/host-paths";
import { BUILD_INFO } from "../../build/embedded";

let binaryHash: string | undefined;
/**
 * SHA-256 of the running executable (the compiled binary, or bun when run from source).
 * Hashing the ~110 MB binary costs ~200 ms, paid before anything attaches (session_start carries
 * it), so the digest is cached in $EBPFCTL_CACHE_DIR/binary-sha256.json (default
 * /var/cache/ebpfctl: it survives reboots, so only the first run after an install or upgrade
 * pays), keyed by the executable's device, inode, size, mtime and ctime. Any write to the file or
 * its replacement changes the key; ctime cannot be set back without moving the clock. The cache is
 * believed only if nobody but us could have written it (cache-file.ts).
 */
export function binarySha256(dir = cacheDir()): string {
  binaryHash ??= cachedExecutableHash(dir);
  return binaryHash;
}

function cachedExecutableHash(dir: string): string {
  // /proc/self/exe still reads the running image if the file was replaced or deleted meanwhile.
  const exe = existsSync("/proc/self/exe") ? "/proc/self/exe" : process.execPath;
  let key: string | undefined;
  try {
    const st = statSync(exe, { bigint: true });
    key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    /* no key: hash every time */
  }
  const path = dir ? join(dir, "binary-sha256.json") : undefined;
  if (key && path && privateCacheFile(path)) {
    try {
      const c = JSON.parse(readRegularText(path, { what: "cache file", maxBytes: 16 * MiB, exitCode: ExitCode.INTERNAL, noFollow: true })) as { key?: string; sha256?: string };
      if (c.key === key && typeof c.sha256 === "string" && /^[0-9a-f]{64}$/.test(c.sha256)) return c.sha256;
    } catch {
      /* unreadable: hash */
    }
  }
  const sha256 = hashFile(exe);
  if (key && path) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeAtomic(path, JSON.stringify({ key, sha256 }) + "\n", 0o600);
    } catch {
      // A cache that cannot be written only costs the next run the hash.
    }
  }
  return sha256;
}

/** Streamed in 1 MiB chunks: never holds the whole executable in memory. */
function hashFile(path: string): string {
  const h = createHash("sha256");
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let n: number;
    while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

export function versionReport() {
  return { version: BUILD_INFO.version, built: BUILD_INFO.built, libbpf: libbpfVersion(), kernel: release(), arch: arch(), binary_sha256: binarySha256() };
}
