/** Plain aligned tables for the terminal commands. */

/** Rows (the first one the header) as columns padded to their widest cell, two spaces apart. */
export function alignedTable(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}
