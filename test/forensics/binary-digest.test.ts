// The executable's SHA-256 in every session_start: hashing the ~110 MB binary costs ~200 ms, so the
// digest is cached in $EBPFCTL_CACHE_DIR (persistent: a reboot does not make the next run pay it),
// and believed only when nobody else could have written the cache and its key still matches.
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { assertBuilt, EBPFCTL, ebpfctl, isolatedEnv } from "../helpers/trace";

beforeAll(() => assertBuilt());

const trueDigest = () => createHash("sha256").update(readFileSync(EBPFCTL)).digest("hex");
const reported = async (env: Record<string, string>) => {
  const r = await ebpfctl(["version", "--output", "json"], env);
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { binary_sha256: string }).binary_sha256;
};

describe("binary digest cache", () => {
  test("the first run hashes and caches (0600 in a 0700 directory); later runs read the same digest", async () => {
    const env = isolatedEnv();
    const digest = trueDigest();
    expect(await reported(env)).toBe(digest);
    const file = join(env.EBPFCTL_CACHE_DIR!, "binary-sha256.json");
    expect(JSON.parse(readFileSync(file, "utf8")).sha256).toBe(digest);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(env.EBPFCTL_CACHE_DIR!).mode & 0o777).toBe(0o700);
    expect(await reported(env)).toBe(digest);
  });

  test("a cache others could have written, or keyed to another file, is not believed (and is rewritten)", async () => {
    const env = isolatedEnv();
    const digest = trueDigest();
    await reported(env);
    const file = join(env.EBPFCTL_CACHE_DIR!, "binary-sha256.json");
    const { key } = JSON.parse(readFileSync(file, "utf8")) as { key: string };
    const forged = "f".repeat(64);

    writeFileSync(file, JSON.stringify({ key, sha256: forged }));
    chmodSync(file, 0o664);
    expect(await reported(env)).toBe(digest);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    writeFileSync(file, JSON.stringify({ key: `${key}0`, sha256: forged }));
    expect(await reported(env)).toBe(digest);
    expect(JSON.parse(readFileSync(file, "utf8")).sha256).toBe(digest);
  });
});
