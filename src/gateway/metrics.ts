/** The Prometheus text exposition format (0.0.4): metric families rendered for `GET /metrics`. */
import type { Tally } from "../kernel/mod.ts";

/** The `Content-Type` of the exposition. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** One value of a family, with its labels. */
export interface Sample {
  labels?: Record<string, string>;
  value: number;
}

/** A metric: name, help text, type, and its samples read when scraped. */
export interface MetricFamily {
  name: string;
  help: string;
  type: "counter" | "gauge";
  samples(): Sample[];
}

/** A tally's series as samples. */
export function tallySamples(tally: Tally<string>): Sample[] {
  return tally.entries().map((e) => ({ labels: e.labels, value: e.value }));
}

/** Renders families: `# HELP` and `# TYPE` lines, then one line per sample. */
export function renderMetrics(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")}`);
    lines.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples()) lines.push(`${f.name}${labelSet(s.labels)} ${number(s.value)}`);
  }
  return lines.join("\n") + "\n";
}

function labelSet(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return "";
  return `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

/** A label value as the format quotes it: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function number(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}
