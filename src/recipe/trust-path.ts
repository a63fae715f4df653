// Trusted paths: a file the trust chain reads (a trusted key, the host policy, a host recipe) is
// only as safe as every directory above it. We refuse a file when it, or any directory from it up
// to "/", is not owned by root or is writable by group or others, and a symlink that resolves
// outside the trusted tree — the checks OpenSSH's safe_path() and sudo apply to their configs.
//
// One exception, as in those tools, and only ABOVE the trusted root: a group/world-writable
// directory with the sticky bit (/tmp holding a test's config dir) is accepted there, because
// others cannot rename or replace the root-owned entry below it (which is itself checked). Inside
// the trusted tree a sticky writable directory is refused like any other writable one: anyone
// could add a file to it (a .pub in trusted-keys/, a recipe in recipes/).
import { lstatSync, realpathSync, type Stats } from "node:fs";
import { dirname, resolve, sep } from "node:path";
import { untrustedPath } from "../errors";

const S_ISVTX = 0o1000;

const within = (p: string, root: string) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

/** Every path from `p` up to "/" (inclusive). */
function chain(p: string): string[] {
  const out = [p];
  for (let d = dirname(p); ; d = dirname(d)) {
    if (d === out[out.length - 1]) break;
    out.push(d);
  }
  return out;
}

function checkOne(p: string, st: Stats, file: string, insideRoot: boolean): void {
  const fix = `chown root:root ${p} && chmod go-w ${p}`;
  if (st.uid !== 0) {
    throw untrustedPath("not-root-owned", file, `refusing ${file}: ${p} is owned by uid ${st.uid}, not root`, `trusted files and every directory above them must be root-owned: ${fix}`);
  }
  if (st.isSymbolicLink()) return; // a symlink's own mode is meaningless; its target is checked
  const sticky = !insideRoot && st.isDirectory() && (st.mode & S_ISVTX) !== 0;
  const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
  if (st.mode & 0o002 && !sticky) {
    throw untrustedPath("world-writable", file, `refusing ${file}: ${p} is world-writable (mode ${mode})`, `trusted files and every directory above them must not be writable by others: ${fix}`);
  }
  if (st.mode & 0o020 && !sticky) {
    throw untrustedPath("group-writable", file, `refusing ${file}: ${p} is group-writable (mode ${mode})`, `trusted files and every directory above them must not be writable by group: ${fix}`);
  }
}

/**
 * Refuse (TrustError EBPFCTL-E0310, exit TRUST, `reason` one of missing, symlink-escape,
 * not-root-owned, world-writable, group-writable) unless `path` is safe to trust.
 * Returns the resolved real path, which is what callers should read.
 */
export function checkTrustedFile(path: string, trustedRoot: string): string {
  const abs = resolve(path);
  let real: string;
  let rootReal: string;
  try {
    real = realpathSync(abs);
  } catch (e) {
    throw untrustedPath("missing", abs, `refusing ${abs}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "it does not exist (or is a dangling symlink)" : (e as Error).message}`, "create it, or point EBPFCTL_CONFIG_DIR at the right directory");
  }
  try {
    rootReal = realpathSync(resolve(trustedRoot));
  } catch {
    throw untrustedPath("missing", abs, `refusing ${abs}: the trusted directory ${trustedRoot} does not exist`, "create it, or point EBPFCTL_CONFIG_DIR at the right directory");
  }
  if (!within(real, rootReal)) {
    throw untrustedPath("symlink-escape", abs, `refusing ${abs}: it resolves to ${real}, outside the trusted tree ${rootReal}`, `replace the symlink with the file itself, inside ${rootReal}`);
  }
  // The path as written (its symlinks included) and the path as resolved, each up to "/".
  const seen = new Set<string>();
  for (const p of [...chain(abs), ...chain(real)]) {
    if (seen.has(p)) continue;
    seen.add(p);
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch (e) {
      throw untrustedPath("missing", abs, `refusing ${abs}: cannot inspect ${p}: ${(e as Error).message}`, "check the file and its directories");
    }
    checkOne(p, st, abs, within(p, rootReal) || within(p, resolve(trustedRoot)));
  }
  return real;
}

/** Whether `dir` exists (without following a dangling symlink into an error). */
export function existsPath(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
