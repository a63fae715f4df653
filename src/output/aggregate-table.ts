// Borderless aligned tables for aggregations (syscount, profile's top stacks), drawn by cli-table3.
import Table from "cli-table3";

export interface TableColumn {
  header: string;
  align?: "left" | "right";
}

const NO_BORDER = {
  top: "", "top-mid": "", "top-left": "", "top-right": "",
  bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
  left: "", "left-mid": "", mid: "", "mid-mid": "",
  right: "", "right-mid": "", middle: "  ",
};

/** Header row plus one line per row; trailing spaces trimmed. */
export function renderTable(columns: TableColumn[], rows: string[][]): string[] {
  const t = new Table({
    head: columns.map((c) => c.header),
    chars: NO_BORDER,
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0, compact: true },
    colAligns: columns.map((c) => c.align ?? "left"),
  });
  for (const r of rows) t.push(r);
  return t
    .toString()
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0);
}
