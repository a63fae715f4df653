// User-space symbolisation that survives the sampled process: when a pid is first seen, its
// executable mappings are read from /proc/PID/maps and each mapped file is opened at once (by
// /proc/PID/map_files, /proc/PID/root or its path, checked against the mapping's inode). The
// open descriptor keeps the file readable after the process exits and after the file is deleted.
// Symbol indexes (elf-index.ts) are built on first lookup and kept in an LRU with a byte cap;
// an evicted index keeps its descriptor and is rebuilt when needed again.
import { closeSync, constants, fstatSync, openSync, readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import { ElfSymbolIndex } from "./elf-index";

export const UNKNOWN_FRAME = "[unknown]";

/** The one form of a frame that has a module but no symbol. */
export function moduleFrame(module: string, offset: bigint | number): string {
  return `[${module}+0x${offset.toString(16)}]`;
}

export interface Mapping {
  start: bigint;
  end: bigint;
  offset: bigint;
  /** dev:inode as /proc/PID/maps shows it: the identity of the file */
  file: string;
  path: string;
  /** /proc/PID/map_files/START-END: the mapped file itself, even if deleted or in another mount ns */
  mapFile: string;
}

export function parseMaps(pid: number, text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split("\n")) {
    // 55d0c0a00000-55d0c0a01000 r-xp 00001000 fe:01 1234  /usr/bin/x
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+([0-9a-f]+)\s+(\S+)\s+(\d+)\s+(.*)$/.exec(line);
    if (!m || !m[3]!.includes("x") || m[6] === "0") continue;
    const path = m[7]!.trim();
    if (!path.startsWith("/")) continue;
    out.push({
      start: BigInt("0x" + m[1]),
      end: BigInt("0x" + m[2]),
      offset: BigInt("0x" + m[4]),
      file: `${m[5]}:${m[6]}`,
      path: path.replace(/ \(deleted\)$/, ""),
      mapFile: `/proc/${pid}/map_files/${m[1]}-${m[2]}`,
    });
  }
  return out;
}

/** "fe:01" (major:minor in hex, as maps prints it) of an st_dev. */
function devString(dev: number): string {
  const major = ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >>> 12) & ~0xff);
  return `${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}`;
}

/** Build-ids as the kernel's stack map holds them: 20 bytes, zero-padded. */
const buildIdKey = (hex: string): string => hex.slice(0, 40).padEnd(40, "0");

/**
 * Opens a regular file only: a path a traced process controls may name a device or a FIFO, and
 * opening some devices has effects. stat first (no effect), then O_NONBLOCK, then the descriptor
 * must be the file that was checked.
 */
function openRegular(path: string): number {
  const before = statSync(path);
  if (!before.isFile()) throw new Error(`${path}: not a regular file`);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const st = fstatSync(fd);
  if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) {
    closeSync(fd);
    throw new Error(`${path}: changed while opened`);
  }
  return fd;
}

const REFRESH_MS = 2000;
/** Open files held at most (each one descriptor); beyond it the least recently used is closed. */
const MAX_OPEN_FILES = 512;
/** Processes whose mappings are kept at most; beyond it the least recently seen is forgotten. */
const MAX_PIDS = 4096;

export interface UserSymbolsOptions {
  /** Bytes the symbol indexes may hold together (counted against the session's max_memory). */
  maxBytes: number;
  warn: (message: string) => void;
}

export class UserSymbols {
  private readonly maps = new Map<number, { at: number; mappings: Mapping[] }>();
  /** pid -> when its maps could not be read (exited before it was first seen, or hidden). */
  private readonly unreadable = new Map<number, number>();
  /** dev:inode -> index (null: could not be opened); Map order is the LRU order. */
  private readonly files = new Map<string, ElfSymbolIndex | null>();
  private readonly byBuildId = new Map<string, ElfSymbolIndex>();
  private readonly missingBuildIds = new Set<string>();
  /** Indexes that hold symbol arrays now, and their bytes. */
  private readonly resident = new Map<ElfSymbolIndex, number>();
  private residentBytes = 0;
  peakBytes = 0;

  constructor(private readonly o: UserSymbolsOptions) {}

  /** Bytes held by symbol indexes now. */
  get bytes(): number {
    return this.residentBytes;
  }

  /** Snapshot a process's mappings (and open their files) when first seen; refreshed every 2 s while it lives. */
  remember(pid: number, now = performance.now()): void {
    const cached = this.maps.get(pid);
    if (cached && now - cached.at < REFRESH_MS) return;
    const failed = this.unreadable.get(pid);
    if (!cached && failed !== undefined && now - failed < REFRESH_MS) return;
    let mappings: Mapping[];
    try {
      mappings = parseMaps(pid, readFileSync(`/proc/${pid}/maps`, "utf8"));
    } catch (e) {
      // Gone already: keep what we have, if anything (and do not ask again for every frame).
      if (cached) cached.at = now;
      else {
        this.unreadable.set(pid, now);
        if (this.unreadable.size > MAX_PIDS) this.unreadable.delete(this.unreadable.keys().next().value!);
      }
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM") this.o.warn(`cannot read /proc/PID/maps of some processes (${code}: needs CAP_SYS_PTRACE for processes with capabilities or of other users); their user stacks stay unsymbolised`);
      return;
    }
    this.maps.delete(pid);
    this.maps.set(pid, { at: now, mappings }); // most recently seen last
    if (this.maps.size > MAX_PIDS) this.maps.delete(this.maps.keys().next().value!);
    for (const m of mappings) this.open(pid, m);
  }

  /** Innermost frame first, as the kernel records them. */
  user(pid: number, addrs: bigint[]): string[] {
    this.remember(pid);
    const maps = this.maps.get(pid)?.mappings;
    if (!maps) {
      this.o.warn(`some user stacks are unsymbolised: their processes exited (or hid their memory maps) before the maps could be read`);
      return addrs.map(() => UNKNOWN_FRAME);
    }
    return addrs.map((a) => {
      const m = maps.find((x) => a >= x.start && a < x.end);
      if (!m) return UNKNOWN_FRAME;
      const fileOffset = a - m.start + m.offset;
      return this.resolve(this.files.get(m.file) ?? null, fileOffset, basename(m.path));
    });
  }

  /**
   * A frame given as build-id + file offset (a BPF_F_STACK_BUILD_ID stack): through any file seen
   * with that build-id (in whatever process), else the distribution's debug file for it.
   */
  byBuildIdFrame(buildId: string, fileOffset: bigint): string {
    let idx = this.byBuildId.get(buildId);
    if (idx === undefined && !this.missingBuildIds.has(buildId)) {
      idx = this.openDebugFile(buildId);
      if (idx) this.byBuildId.set(buildId, idx);
      else this.missingBuildIds.add(buildId);
    }
    return idx ? this.resolve(idx, fileOffset, basename(idx.path)) : UNKNOWN_FRAME;
  }

  /** /usr/lib/debug/.build-id/ab/cdef….debug: where distributions put a build-id's symbols. */
  private openDebugFile(buildId: string): ElfSymbolIndex | undefined {
    const id = buildId.replace(/(00)+$/, "");
    if (id.length < 4) return undefined;
    const path = `/usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`;
    let fd = -1;
    try {
      fd = openRegular(path);
      return new ElfSymbolIndex(fd, path);
    } catch {
      if (fd >= 0) closeSync(fd);
      return undefined;
    }
  }

  close(): void {
    for (const f of this.files.values()) f?.close();
    this.files.clear();
    this.byBuildId.clear();
    this.resident.clear();
    this.residentBytes = 0;
  }

  private resolve(idx: ElfSymbolIndex | null, fileOffset: bigint, module: string): string {
    if (!idx) return moduleFrame(module, fileOffset);
    let sym: { name: string } | undefined;
    try {
      sym = idx.lookupOffset(Number(fileOffset));
    } catch {
      sym = undefined;
    }
    this.account(idx);
    return sym ? sym.name : moduleFrame(module, fileOffset);
  }

  /** Re-count an index after a lookup (it may have just been built) and evict past the cap. */
  private account(idx: ElfSymbolIndex): void {
    const before = this.resident.get(idx) ?? 0;
    const now = idx.bytes;
    this.resident.delete(idx);
    this.resident.set(idx, now); // most recently used last
    this.residentBytes += now - before;
    for (const [old, bytes] of this.resident) {
      if (this.residentBytes <= this.o.maxBytes || old === idx) break;
      old.shrink();
      this.resident.delete(old);
      this.residentBytes -= bytes;
    }
    this.peakBytes = Math.max(this.peakBytes, this.residentBytes);
  }

  private open(pid: number, m: Mapping): void {
    if (this.files.has(m.file)) {
      const f = this.files.get(m.file)!;
      this.files.delete(m.file);
      this.files.set(m.file, f);
      return;
    }
    const cut = m.file.lastIndexOf(":");
    const dev = m.file.slice(0, cut);
    const ino = m.file.slice(cut + 1);
    let idx: ElfSymbolIndex | null = null;
    for (const path of [m.mapFile, `/proc/${pid}/root${m.path}`, m.path]) {
      let fd = -1;
      try {
        fd = openRegular(path);
        const st = fstatSync(fd);
        // Same filesystem, other inode: the path now names another file (replaced binary).
        if (devString(st.dev) === dev && String(st.ino) !== ino) throw new Error("not the mapped file");
        idx = new ElfSymbolIndex(fd, m.path);
        break;
      } catch {
        if (fd >= 0) closeSync(fd); // the index did not take it: try the next way to the file
      }
    }
    if (!idx) this.o.warn(`cannot read symbols of ${m.path}; its frames show as [file+0xoffset]`);
    this.files.set(m.file, idx);
    if (idx?.buildId) this.byBuildId.set(buildIdKey(idx.buildId), idx);
    if (this.files.size > MAX_OPEN_FILES) {
      const [oldKey, old] = this.files.entries().next().value as [string, ElfSymbolIndex | null];
      this.files.delete(oldKey);
      if (old) {
        if (old.buildId) this.byBuildId.delete(buildIdKey(old.buildId));
        const bytes = this.resident.get(old) ?? 0;
        this.resident.delete(old);
        this.residentBytes -= bytes;
        old.close();
      }
    }
  }
}
