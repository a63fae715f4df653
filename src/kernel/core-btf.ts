// CO-RE relocation against a minimised copy of the kernel's BTF.
//
// To resolve a recipe's few dozen CO-RE relocations, libbpf parses the whole kernel BTF on every
// load (/sys/kernel/btf/vmlinux: 5.5 MB, ~8 ms of a ~10 ms load on 6.18). bpftool's BTFgen
// (`bpftool gen min_core_btf`) keeps only the types and members one object relocates against (a
// few hundred bytes), and libbpf takes such a file in place of the kernel's (btf_custom_path).
//
// ebpfctl keeps one per kernel image, object and program set under the cache directory
// (/var/cache/ebpfctl/core-btf: a reboot into the same kernel keeps it), with the digest of every
// program's instructions as a load against the full kernel BTF relocated them. A session
// that loaded the usual way makes the entry after it has detached (~20 ms on its way out, never in
// the way of an attach; nothing of it needs privileges, which are gone by then). A later session loads against the minimised file and compares
// what libbpf produced with those digests before it attaches anything: any difference, a failed
// load, a file not owned by us or open to others, and it loads against the kernel's BTF instead.
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { MiB, readRegularText } from "../files/regular-file";
import { ExitCode } from "../errors";
import { writeExclusive } from "../files/regular-file";
import { join } from "node:path";
import { ownedAndPrivate } from "./cache-file";

/**
 * What a minimised BTF is valid for: one kernel image (its build-id and BTF size; where the image
 * has no build-id, this boot), with the same modules carrying BTF (CO-RE looks in module BTF for
 * types vmlinux lacks, the minimised file never does: a module loaded since could change the
 * answer), one object, one set of loaded programs.
 */
export interface CoreBtfKey {
  kernel: string;
  /** kernelImageId(): "build-id <hex> btf <bytes>", or "boot <boot id>". */
  image: string;
  /** SHA-256 prefix of the sorted names in /sys/kernel/btf besides vmlinux (moduleBtfDigest). */
  moduleBtf: string;
  objectSha256: string;
  programs: string[];
}

/** Which kernel image's BTF this is: stable across reboots when the image has a build-id. */
export const kernelImageId = (facts: { buildId: string | null; bootId: string | null; btf: { vmlinuxBytes: number | null } }): string =>
  facts.buildId ? `build-id ${facts.buildId} btf ${facts.btf.vmlinuxBytes}` : `boot ${facts.bootId}`;

export const moduleBtfDigest = (moduleNames: string[]): string => createHash("sha256").update(moduleNames.join("\n")).digest("hex").slice(0, 16);

/** A cached minimised BTF and, per program, the digest of its instructions relocated against the kernel's BTF. */
export interface CoreBtfEntry {
  path: string;
  digests: Record<string, string>;
}

export interface CoreBtfBuild {
  result: "cached" | "unavailable" | "failed";
  ms: number;
  bytes?: number;
  detail?: string;
}

const BPFTOOL_CANDIDATES = ["/usr/sbin/bpftool", "/usr/bin/bpftool", "/sbin/bpftool", "/usr/local/sbin/bpftool"];
const KERNEL_BTF = "/sys/kernel/btf/vmlinux";

export class CoreBtfCache {
  readonly dir: string;
  readonly path: string;
  private readonly indexPath: string;

  readonly key: CoreBtfKey;

  constructor(cacheDir: string, key: CoreBtfKey) {
    this.dir = join(cacheDir, "core-btf");
    this.key = { ...key, programs: [...key.programs].sort() }; // a set: its order means nothing
    const id = createHash("sha256").update(JSON.stringify(this.key)).digest("hex").slice(0, 32);
    this.path = join(this.dir, `${id}.btf`);
    this.indexPath = join(this.dir, `${id}.json`);
  }

  /** The cached entry when it exists, is whole and only we could have written it; otherwise undefined. */
  lookup(): CoreBtfEntry | undefined {
    if (!ownedAndPrivate(this.dir, true) || !ownedAndPrivate(this.path) || !ownedAndPrivate(this.indexPath)) return undefined;
    try {
      const index = JSON.parse(readRegularText(this.indexPath, { what: "cache file", maxBytes: 16 * MiB, exitCode: ExitCode.INTERNAL, noFollow: true })) as { key?: unknown; digests?: Record<string, string> };
      if (JSON.stringify(index.key) !== JSON.stringify(this.key) || !index.digests) return undefined;
      if (!this.key.programs.every((p) => typeof index.digests![p] === "string")) return undefined;
      return { path: this.path, digests: index.digests };
    } catch {
      return undefined;
    }
  }

  /** Forget the entry (a load against it failed or relocated differently). */
  invalidate(): void {
    rmSync(this.indexPath, { force: true });
    rmSync(this.path, { force: true });
  }

  /** Entries for another kernel image or module set can never match again here: remove them. */
  private pruneOtherKernels(): void {
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith(".json")) continue;
      const index = join(this.dir, f);
      let key: Partial<CoreBtfKey> | undefined;
      try {
        key = (JSON.parse(readRegularText(index, { what: "cache file", maxBytes: 16 * MiB, exitCode: ExitCode.INTERNAL, noFollow: true })) as { key?: Partial<CoreBtfKey> }).key;
      } catch {
        key = undefined; // unreadable: not an entry anyone can use
      }
      if (key && key.kernel === this.key.kernel && key.image === this.key.image && key.moduleBtf === this.key.moduleBtf) continue;
      rmSync(index, { force: true });
      rmSync(index.replace(/\.json$/, ".btf"), { force: true });
    }
  }

  /**
   * Make the entry for `elf` from a load against the kernel's BTF: bpftool's minimised BTF plus
   * the digests of `relocated` (program name → instructions as that load left them).
   */
  build(elf: Uint8Array, relocated: Map<string, Uint8Array>): CoreBtfBuild {
    const t0 = performance.now();
    const done = (result: CoreBtfBuild["result"], detail?: string, bytes?: number): CoreBtfBuild => ({
      result,
      ms: Math.round((performance.now() - t0) * 10) / 10,
      ...(bytes !== undefined ? { bytes } : {}),
      ...(detail ? { detail } : {}),
    });
    const bpftool = findBpftool();
    if (!bpftool) return done("unavailable", "no root-owned bpftool in /usr/sbin, /usr/bin, /sbin or /usr/local/sbin (Debian: apt install bpftool)");
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      if (!ownedAndPrivate(this.dir, true)) return done("failed", `${this.dir} is not a directory owned by uid ${process.geteuid?.()} and closed to others`);
    } catch (e) {
      return done("failed", `${this.dir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    sweepOrphans(this.dir);
    this.pruneOtherKernels();
    const tmpObject = `${this.path}.${process.pid}.o`;
    const tmpBtf = `${this.path}.${process.pid}.tmp`;
    const tmpIndex = `${this.indexPath}.${process.pid}.tmp`;
    try {
      writeExclusive(tmpObject, elf, 0o600);
      const r = spawnSync(bpftool, ["gen", "min_core_btf", KERNEL_BTF, tmpBtf, tmpObject], { encoding: "utf8", timeout: 10_000 });
      if (r.status !== 0) return done("failed", `bpftool gen min_core_btf: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split("\n").pop()}`);
      const digests = Object.fromEntries([...relocated].map(([name, insns]) => [name, relocationDigest(insns)]));
      writeExclusive(tmpIndex, JSON.stringify({ key: this.key, digests }) + "\n", 0o600);
      // The BTF first: an index is only ever seen beside its file.
      renameSync(tmpBtf, this.path);
      renameSync(tmpIndex, this.indexPath);
      return done("cached", undefined, statSync(this.path).size);
    } catch (e) {
      return done("failed", (e as Error).message);
    } finally {
      for (const f of [tmpObject, tmpBtf, tmpIndex]) rmSync(f, { force: true });
    }
  }
}

/** For doctor: the bpftool the cache would use (none: nothing is cached) and the entries made so far. */
export function coreBtfCacheStatus(cacheDir: string): { bpftool: string | null; dir: string; entries: number } {
  const dir = join(cacheDir, "core-btf");
  let entries = 0;
  try {
    entries = readdirSync(dir).filter((f) => f.endsWith(".json")).length;
  } catch {
    /* none yet */
  }
  return { bpftool: findBpftool() ?? null, dir, entries };
}

/** The first program whose relocated instructions differ from the entry's digests, or undefined. */
export function relocationMismatch(entry: CoreBtfEntry, relocated: Map<string, Uint8Array>): string | undefined {
  for (const [name, insns] of relocated) if (entry.digests[name] !== relocationDigest(insns)) return name;
  return undefined;
}

// BPF_LD | BPF_IMM | BPF_DW: a 16-byte ldimm64. Its src_reg says what the immediate holds.
const LDIMM64 = 0x18;
// Map references (BPF_PSEUDO_MAP_FD, _MAP_VALUE, _MAP_IDX, _MAP_IDX_VALUE): the first half's
// immediate is a file descriptor, different in every load and nothing CO-RE decides.
const MAP_REFERENCES = new Set([1, 2, 5, 6]);

/**
 * SHA-256 of a program's relocated instructions with the map file descriptors in ldimm64
 * instructions zeroed: two loads that relocated a program identically have the same digest.
 */
export function relocationDigest(insns: Uint8Array): string {
  const masked = new Uint8Array(insns);
  for (let i = 0; i + 8 <= masked.length; i += 8) {
    if (masked[i] !== LDIMM64) continue;
    if (MAP_REFERENCES.has(masked[i + 1]! >> 4)) masked.fill(0, i + 4, i + 8);
    i += 8; // the second half (value offset or upper immediate) stays as it is
  }
  return createHash("sha256").update(masked).digest("hex");
}

/** Temporaries (`<id>.btf.<pid>.o|.tmp`, `<id>.json.<pid>.tmp`) of builds whose process died mid-way (SIGKILL). */
function sweepOrphans(dir: string): void {
  for (const f of readdirSync(dir)) {
    const m = /\.(\d+)\.(o|tmp)$/.exec(f);
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    rmSync(join(dir, f), { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // alive, someone else's
  }
}

/** A bpftool ebpfctl may run as root: a regular file owned by root, writable by nobody else. */
function findBpftool(): string | undefined {
  for (const p of BPFTOOL_CANDIDATES) {
    try {
      const s = statSync(p);
      if (s.isFile() && s.uid === 0 && (s.mode & 0o022) === 0 && (s.mode & 0o111) !== 0) return p;
    } catch {
      /* next candidate */
    }
  }
  return undefined;
}
