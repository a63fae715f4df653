// Enums decoded for people (table) and beside the raw value for scripts (JSON).
import { describe, expect, test } from "bun:test";
import { formatCell, ipv6, jsonEvent, openFlags } from "../../src/output/format";
import type { Column } from "../../src/recipe/manifest";

describe("enums", () => {
  test("open flags 577 = O_WRONLY|O_CREAT|O_TRUNC; unknown bits are kept in octal", () => {
    expect(openFlags(577)).toBe("O_WRONLY|O_CREAT|O_TRUNC");
    expect(openFlags(0)).toBe("O_RDONLY");
    expect(openFlags(0o40000000 | 2)).toBe("O_RDWR|040000000");
    // bit 31 (an int32 flags field reads negative): still one unsigned octal number
    expect(openFlags((0x80000000 | 1) >> 0)).toBe("O_WRONLY|020000000000");
  });
  test("JSON: flags by name beside flags_raw, family by name beside family_raw, no signal is null", () => {
    const cols = [{ field: "flags", header: "FLAGS", format: "open_flags" }, { field: "sig", header: "SIG", format: "signal" }, { field: "daddr", header: "DADDR", format: "ip" }] as Column[];
    const daddr = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    expect(jsonEvent(cols, { flags: 577, sig: 0, family: 10, daddr })).toMatchObject({ flags: ["O_WRONLY", "O_CREAT", "O_TRUNC"], flags_raw: 577, sig_name: null, family: "inet6", family_raw: 10, daddr: "::1" });
    expect(jsonEvent(cols, { flags: 0, sig: 9, family: 2, daddr: [127, 0, 0, 1, ...daddr.slice(4)] })).toMatchObject({ sig_name: "SIGKILL", family: "inet", daddr: "127.0.0.1" });
  });
  test("table: the IP column shows 4 or 6, a normal exit's signal is empty", () => {
    const ip = { field: "family", header: "IP", format: "family" } as Column;
    expect(formatCell(ip, { family: 2 }, 0)).toBe("4");
    expect(formatCell(ip, { family: 10 }, 0)).toBe("6");
    expect(formatCell({ field: "sig", header: "SIG", format: "signal" } as Column, { sig: 0 }, 0)).toBe("");
  });
});

describe("ipv6", () => {
  // Ground truth: Python's ipaddress (RFC 5952 canonical text), on addresses with runs of zero
  // groups of every length and position, ties included, plus IPv4-mapped ones.
  test("matches Python's ipaddress on 3000 addresses with zero runs anywhere", () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const addrs: number[][] = [];
    for (let k = 0; k < 3000; k++) {
      const groups = Array.from({ length: 8 }, () => (rand(3) === 0 ? 0 : rand(0x10000)));
      if (k % 10 === 0) groups.fill(0, rand(8), rand(9));
      const bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
      addrs.push(bytes);
    }
    addrs.push(new Array(16).fill(0), [...new Array(15).fill(0), 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]);
    const script = "import sys, ipaddress\nfor l in sys.stdin:\n    print(ipaddress.IPv6Address(bytes.fromhex(l.strip())).compressed)";
    const hex = addrs.map((a) => Buffer.from(a).toString("hex")).join("\n") + "\n";
    const r = Bun.spawnSync(["python3", "-c", script], { stdin: new TextEncoder().encode(hex) });
    expect(r.exitCode).toBe(0);
    const expected = r.stdout.toString().trim().split("\n");
    const mismatches = addrs.map((a, i) => ({ got: ipv6(a), want: expected[i]! })).filter((x) => x.got !== x.want);
    // IPv4-mapped: ebpfctl writes the dotted form RFC 5952 section 5 recommends; Python does not.
    expect(mismatches).toEqual([{ got: "::ffff:10.1.2.3", want: "::ffff:a01:203" }]);
  });
});
