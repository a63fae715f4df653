// What this kernel lets ebpfctl do (feature-probes.ts tries each for real), probed at most once
// per process and cached on disk per boot in features.json; masking (EBPFCTL_MASK_FEATURES)
// applies on every call.
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { MiB, readRegularText } from "../files/regular-file";
import { ExitCode } from "../errors";
import { writeNewFileAtomic } from "../files/regular-file";
import { join } from "node:path";
import { readKernelFacts, type KernelFacts } from "./facts";
import { privateCacheFile } from "./cache-file";
import { ALL_FEATURES, probeObjectBytes, runProbes, type Feature, type FeatureReport } from "./feature-probes";

export * from "./feature-probes";

// ---------------------------------------------------------------------------------------------
// Caching and masking

interface CacheKey {
  kernel: string;
  bootId: string | null;
  /** Results depend on privilege: a root run and an unprivileged run differ. */
  capEff: string | null;
  lockdown: string;
  /** A different probe object (new ebpfctl build) probes anew. */
  object: string;
}
interface CacheFile {
  key: CacheKey;
  probeMs: number;
  features: Record<string, Feature>;
}

let processCache: { key: string; probeMs: number; source: "probed" | "cache"; features: Record<string, Feature> } | undefined;

/** Forget the per-process result (tests; after privileges change). */
export function resetFeatureCache(): void {
  processCache = undefined;
}

/** The comma list in EBPFCTL_MASK_FEATURES, trimmed, lower-case. */
export function maskedFeatures(env: Record<string, string | undefined> = process.env): string[] {
  return (env.EBPFCTL_MASK_FEATURES ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

function cacheKey(facts: KernelFacts, elf: Uint8Array): CacheKey {
  return {
    kernel: facts.release,
    bootId: facts.bootId,
    capEff: facts.capabilities.effectiveHex,
    lockdown: facts.lockdown.mode,
    object: createHash("sha256").update(elf).digest("hex").slice(0, 16),
  };
}

/** The cached features for this key (possibly only some of them: a trace probes what its recipe needs). */
function readDiskCache(path: string, key: CacheKey): CacheFile | undefined {
  if (!privateCacheFile(path)) return undefined;
  try {
    const c = JSON.parse(readRegularText(path, { what: "cache file", maxBytes: 16 * MiB, exitCode: ExitCode.INTERNAL, noFollow: true })) as CacheFile;
    if (JSON.stringify(c.key) !== JSON.stringify(key)) return undefined;
    const known = new Set<string>(ALL_FEATURES);
    for (const [name, f] of Object.entries(c.features ?? {})) if (!known.has(name) || f.status === "unknown") return undefined;
    return c;
  } catch {
    return undefined;
  }
}

function writeDiskCache(path: string, c: CacheFile): void {
  try {
    mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
    writeNewFileAtomic(path, JSON.stringify(c, null, 1) + "\n", 0o600);
  } catch {
    // A cache that cannot be written only costs the next run a few milliseconds.
  }
}

export interface ProbeOptions {
  /** Ignore every cache and probe again. */
  refresh?: boolean;
  /** Where features.json lives; default $EBPFCTL_RUN_DIR, else /run/ebpfctl. */
  runDir?: string;
  facts?: KernelFacts;
  env?: Record<string, string | undefined>;
  /**
   * Only these features (default: all). A trace asks for what its recipe's alternatives need,
   * so a first run after boot probes one or three program types, not all 35 features; each
   * probed feature joins the cache, and later calls probe only what is still missing.
   */
  only?: readonly string[];
}

/**
 * The kernel's features, probed at most once per process each. With $EBPFCTL_RUN_DIR set, results
 * are also kept in features.json keyed by kernel release, boot id, capabilities, lockdown and probe
 * object; only conclusive results (not "unknown") are written. Masking applies on every call.
 */
export function kernelFeatures(opts: ProbeOptions = {}): FeatureReport {
  const env = opts.env ?? process.env;
  const facts = opts.facts ?? readKernelFacts();
  const elf = probeObjectBytes();
  const key = cacheKey(facts, elf);
  const keyText = JSON.stringify(key);
  const wanted = opts.only ?? ALL_FEATURES;
  // Runtime state lives in /run/ebpfctl (tmpfs: the cache dies with the boot, like the facts it holds).
  const runDir = opts.runDir ?? env.EBPFCTL_RUN_DIR ?? "/run/ebpfctl";
  const path = runDir ? join(runDir, "features.json") : undefined;
  if (opts.refresh || processCache?.key !== keyText) {
    const disk = path && !opts.refresh ? readDiskCache(path, key) : undefined;
    processCache = { key: keyText, probeMs: disk?.probeMs ?? 0, source: "cache", features: { ...(disk?.features ?? {}) } };
  }
  const cache = processCache!;
  const missing = wanted.filter((f) => !cache.features[f]);
  if (missing.length) {
    const t0 = performance.now();
    Object.assign(cache.features, runProbes(facts, missing));
    cache.probeMs = Math.round((performance.now() - t0) * 10) / 10;
    cache.source = "probed";
    if (path) {
      const conclusive = Object.fromEntries(Object.entries(cache.features).filter(([, f]) => f.status !== "unknown"));
      if (Object.keys(conclusive).length) writeDiskCache(path, { key, probeMs: cache.probeMs, features: conclusive });
    }
  }
  const masked = maskedFeatures(env);
  const features: Record<string, Feature> = {};
  for (const name of wanted) {
    const f = cache.features[name];
    if (f) features[name] = masked.includes(name) ? { ...f, status: "no", evidence: "masked by EBPFCTL_MASK_FEATURES" } : f;
  }
  return {
    kernel: facts.release,
    bootId: facts.bootId,
    probeMs: cache.source === "cache" ? 0 : cache.probeMs,
    source: cache.source,
    masked: masked.filter((m) => m in features),
    features,
  };
}
