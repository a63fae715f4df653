// What this kernel image did with each recipe program when it was really loaded or attached: a
// verifier rejection or a failed attach found at run time (the session falls back), or a clean
// load found by `ebpfctl doctor --check-load`. Feature probes say which attach kinds exist; this
// says what the verifier thinks of our programs, which changes with the kernel build, not the
// feature set. Keyed like the CO-RE cache: the kernel image (a reboot into it keeps the answers,
// another build starts afresh) and the object's SHA-256 (a new recipe build is judged anew).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { privateCacheFile } from "./cache-file";

export type VariantStatus = "accepted" | "rejected" | "attach_failed";

export interface VariantOutcome {
  status: VariantStatus;
  /** load (the verifier) or attach */
  stage: "load" | "attach";
  /** One line: the verifier's explaining line, or the attach error. */
  reason: string;
  /** The saved verifier log, when there was one. */
  log?: string;
  verified_insns?: number;
  at: string;
}

interface OutcomeFile {
  version: 1;
  image: string;
  kernel: string;
  entries: Record<string, VariantOutcome>;
}

const FILE = "variant-outcomes.json";

export class VariantOutcomes {
  private data: OutcomeFile;
  private readonly path: string;

  /** The answers remembered for this image (none when the file is another image's, or not ours). */
  constructor(opts: { image: string; kernel: string; dir?: string }) {
    const dir = opts.dir ?? process.env.EBPFCTL_CACHE_DIR ?? "/var/cache/ebpfctl";
    this.path = join(dir, FILE);
    this.data = { version: 1, image: opts.image, kernel: opts.kernel, entries: {} };
    if (!privateCacheFile(this.path)) return;
    try {
      const d = JSON.parse(readFileSync(this.path, "utf8")) as OutcomeFile;
      if (d.version === 1 && d.image === opts.image && d.entries && typeof d.entries === "object") this.data = d;
    } catch {
      /* unreadable: start afresh, rewritten on the next remember() */
    }
  }

  private static key(objectSha256: string, program: string): string {
    return `${objectSha256}:${program}`;
  }

  get(objectSha256: string, program: string): VariantOutcome | undefined {
    return this.data.entries[VariantOutcomes.key(objectSha256, program)];
  }

  /** A remembered refusal of this program on this image, if any. */
  refusal(objectSha256: string, program: string): VariantOutcome | undefined {
    const o = this.get(objectSha256, program);
    return o && o.status !== "accepted" ? o : undefined;
  }

  /** Records an outcome and writes the file (unless `defer`: then save() does). */
  remember(objectSha256: string, program: string, outcome: Omit<VariantOutcome, "at">, opts: { defer?: boolean } = {}): boolean {
    this.data.entries[VariantOutcomes.key(objectSha256, program)] = { ...outcome, at: new Date().toISOString() };
    return opts.defer ? true : this.save();
  }

  /** Writes the file: 0600 in a 0700 directory, atomically; a failure to write is not fatal (false). */
  save(): boolean {
    try {
      const dir = join(this.path, "..");
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(this.data), { mode: 0o600, flag: "wx" });
      renameSync(tmp, this.path);
      return true;
    } catch {
      return false;
    }
  }

  get file(): string {
    return this.path;
  }
}
