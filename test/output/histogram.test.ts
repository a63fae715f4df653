// Percentiles from log2 buckets, against counts the test lays out: each one is the bucket that
// holds the value of that rank, as its bounds (a log2 histogram knows no more than that).
import { describe, expect, test } from "bun:test";
import { percentiles, percentilesLine } from "../../src/output/histogram";

describe("percentiles", () => {
  test("100 values: 50 in [0,1], 40 in [2,3], 9 in [4,7], 1 in [1024,2047]", () => {
    const slots = [50, 40, 9, 0, 0, 0, 0, 0, 0, 0, 1];
    expect(percentiles(slots)).toEqual({ p50: { low: 0, high: 1 }, p90: { low: 2, high: 3 }, p99: { low: 4, high: 7 } });
    // the 51st value is the first past p50: one more in slot 1 moves p50 there
    expect(percentiles([50, 51])!.p50).toEqual({ low: 2, high: 3 });
  });
  test("a single value: every percentile is its bucket", () => {
    expect(percentiles([0, 0, 0, 0, 0, 1])).toEqual({ p50: { low: 32, high: 63 }, p90: { low: 32, high: 63 }, p99: { low: 32, high: 63 } });
  });
  test("no values: none", () => {
    expect(percentiles([0, 0, 0])).toBeUndefined();
    expect(percentilesLine([], "us")).toBeUndefined();
  });
  test("the table's line says they are bucket bounds", () => {
    expect(percentilesLine([50, 40, 9, 1], "us")).toBe("p50 0-1  p90 2-3  p99 4-7 usecs (bucket bounds)");
  });
});
