// cgroup v2 lookups for --cgroup and --unit: the kernel filters on bpf_get_current_cgroup_id(),
// which is the inode number of the task's cgroup directory on the cgroup2 file system.
import { readFileSync, statSync, statfsSync } from "node:fs";
import { resolve } from "node:path";

const CGROUP2_SUPER_MAGIC = 0x63677270;

export class CgroupError extends Error {}

/** Where cgroup2 is mounted: /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one. */
export function cgroup2Mount(mounts = readFileSync("/proc/self/mounts", "utf8")): string | undefined {
  for (const line of mounts.split("\n")) {
    const [, dir, type] = line.split(" ");
    if (type === "cgroup2" && dir) return dir.replace(/\\040/g, " ");
  }
  return undefined;
}

/** The cgroup id bpf_get_current_cgroup_id() returns for tasks in the cgroup at `path`. */
export function cgroupId(path: string): number {
  const abs = resolve(path);
  let st;
  try {
    st = statSync(abs, { bigint: true });
  } catch (e) {
    throw new CgroupError(`${abs}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isDirectory()) throw new CgroupError(`${abs} is not a cgroup directory`);
  if (Number(statfsSync(abs).type) !== CGROUP2_SUPER_MAGIC) {
    const mount = cgroup2Mount();
    throw new CgroupError(`${abs} is not on the cgroup2 file system${mount ? ` (it is mounted at ${mount})` : " (this host has no cgroup2 mount)"}`);
  }
  return Number(st.ino);
}

/** The cgroup directory of a systemd unit: system.slice/NAME.service (NAME alone means NAME.service). */
export function unitCgroupPath(unit: string): string {
  const mount = cgroup2Mount();
  if (!mount) throw new CgroupError("this host has no cgroup2 mount, so units cannot be resolved to a cgroup");
  const name = /\.(service|scope|slice|socket|mount|swap|timer)$/.test(unit) ? unit : `${unit}.service`;
  if (!/^[A-Za-z0-9:_.\\@-]+$/.test(name)) throw new CgroupError(`"${unit}" is not a unit name`);
  return name.endsWith(".slice") ? `${mount}/${name}` : `${mount}/system.slice/${name}`;
}
