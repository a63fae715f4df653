// Budget values as people read them: measured CPU shares are floats and print to three significant
// digits; limits print as they were given.
import { expect, test } from "bun:test";
import { formatBudget } from "../../src/budget/budgets";

test("formatBudget: cpu to three significant digits, whole limits as given", () => {
  expect(formatBudget("max_cpu", 1.5122114053923674)).toBe("1.51%");
  expect(formatBudget("max_cpu", 0.004123)).toBe("0.00412%");
  expect(formatBudget("max_cpu", 50)).toBe("50%");
  expect(formatBudget("max_rate", 5000)).toBe("5.0k/s");
  expect(formatBudget("max_memory", 64 * 1024 * 1024)).toBe("64 MiB");
  expect(formatBudget("max_duration", 3_600_000)).toBe("1h");
});
