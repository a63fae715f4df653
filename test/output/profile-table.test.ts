// profile's table against stacks the test lays out: rows merge by what they show, kernel and user
// frames are both there and marked, innermost first, and the roll-ups (-P, --by function) add up.
import { describe, expect, test } from "bun:test";
import { profileRows, profileTable, shownFrames } from "../../src/output/profile-table";
import type { SymbolisedStack } from "../../src/output/stacks";

// dd reading /dev/zero: innermost kernel frames first, then the user frames (read ← main).
const dd = (count: number, outer: string): SymbolisedStack => ({
  pid: 10, comm: "dd", count,
  kernel: ["read_zero", "vfs_read", "ksys_read", "do_syscall_64", outer],
  user: ["read", "main", "__libc_start_main"],
});

describe("profile table", () => {
  test("kernel and user frames both shown, marked, innermost first", () => {
    expect(shownFrames(dd(1, "entry_SYSCALL_64"))).toBe("[k] read_zero ← [k] vfs_read ← [k] ksys_read ← … ← [.] read ← [.] main ← [.] __libc_start_main");
    expect(shownFrames({ pid: 1, comm: "x", count: 1, kernel: [], user: [], userError: "no stack" })).toBe("[no stack]");
  });

  test("stacks that differ only in frames not shown are one row (349 samples, not 243 rows)", () => {
    const stacks = [dd(5, "entry_A"), dd(3, "entry_B"), { ...dd(2, "entry_C"), pid: 11 }];
    const rows = profileRows(stacks, { perProcess: false, byFunction: false });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ count: 10, comm: "dd" });
    const lines = profileTable(stacks, { top: 10, perProcess: false, byFunction: false });
    expect(lines[0]).toMatch(/^COUNT\s+%\s+COMM\s+STACK \(innermost first; \[k\] kernel, \[\.\] user\)$/);
    expect(lines[1]).toMatch(/^\s*10\s+100\.0\s+dd\s+\[k\] read_zero ← /);
    expect(lines.at(-1)).toBe("10 samples in 1 rows (merged from 3 distinct stacks)");
  });

  test("-P rolls up by process; --by function is a flat top of self time", () => {
    const hot: SymbolisedStack = { pid: 20, comm: "hot", count: 7, kernel: [], user: ["spin", "main"] };
    const stacks = [dd(5, "a"), { ...dd(2, "b"), pid: 11 }, hot];
    const byProc = profileRows(stacks, { perProcess: true, byFunction: false });
    expect(byProc.map((r) => [r.pid, r.count])).toEqual([[20, 7], [10, 5], [11, 2]]);
    const byFn = profileRows(stacks, { perProcess: false, byFunction: true });
    expect(byFn.map((r) => [r.label, r.count])).toEqual([["[.] spin", 7], ["[k] read_zero", 7]]);
    const table = profileTable(stacks, { top: 10, perProcess: false, byFunction: true });
    expect(table[0]).toMatch(/^SELF\s+%\s+FUNCTION/);
  });
});
