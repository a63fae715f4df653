// Enums decoded for people (table) and beside the raw value for scripts (JSON).
import { describe, expect, test } from "bun:test";
import { formatCell, jsonEvent, openFlags } from "../../src/output/format";
import type { Column } from "../../src/recipe/manifest";

describe("enums", () => {
  test("open flags 577 = O_WRONLY|O_CREAT|O_TRUNC; unknown bits are kept in octal", () => {
    expect(openFlags(577)).toBe("O_WRONLY|O_CREAT|O_TRUNC");
    expect(openFlags(0)).toBe("O_RDONLY");
    expect(openFlags(0o40000000 | 2)).toBe("O_RDWR|040000000");
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
