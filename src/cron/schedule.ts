/**
 * When a job runs: `at` (once, an ISO time or a delay like `20m` counted from when the job is
 * added), `every` (a fixed interval from an anchor), or `cron` (5 or 6 fields, evaluated by croner
 * in an IANA time zone, the host's by default). Clock changes and DST follow croner: a local time
 * that does not exist on a spring-forward day runs at the first valid time after it (02:30 →
 * 03:00), one that occurs twice on a fall-back day runs once, at its first occurrence.
 */
import { Cron } from "croner";

/** A schedule as configured and stored. */
export type ScheduleSpec =
  | { kind: "at"; at: string }
  | { kind: "every"; every: string }
  | { kind: "cron"; cron: string; tz?: string };

/** A checked schedule. */
export interface Schedule {
  readonly spec: ScheduleSpec;
  /** The first run strictly after `afterMs` (epoch ms), or undefined when there is none. */
  next(afterMs: number): number | undefined;
}

const UNITS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/** Milliseconds of a duration like `90s`, `20m`, `1h30m`, `2d`; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim().toLowerCase();
  if (!/^(\d+\s*[smhdw]\s*)+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, n, unit] of trimmed.matchAll(/(\d+)\s*([smhdw])/g)) {
    total += Number(n) * UNITS[unit];
  }
  return total > 0 ? total : undefined;
}

/** Thrown for a schedule that cannot be used; the message names the problem and the fix. */
export class ScheduleError extends Error {
  override name = "ScheduleError";
}

/**
 * Checks a schedule. `anchorMs` is when the job was added: a relative `at` counts from it, and
 * `every` runs at anchor + k × interval.
 */
export function parseSchedule(spec: ScheduleSpec, anchorMs: number): Schedule {
  switch (spec.kind) {
    case "at": {
      const delay = parseDuration(spec.at);
      const at = delay !== undefined ? anchorMs + delay : Date.parse(spec.at);
      if (!Number.isFinite(at)) {
        throw new ScheduleError(
          `at ${
            JSON.stringify(spec.at)
          } is neither a time (2026-12-24T18:00:00+01:00) nor a delay ` +
            "(20m, 1h30m, 2d)",
        );
      }
      return { spec, next: (after) => (at > after ? at : undefined) };
    }
    case "every": {
      const interval = parseDuration(spec.every);
      if (interval === undefined || interval < 1_000) {
        throw new ScheduleError(
          `every ${JSON.stringify(spec.every)} is not a duration of at least a second: use e.g. ` +
            "30s, 15m, 1h, 1d",
        );
      }
      return {
        spec,
        // anchor + k × interval, k ≥ 1: the first run is one interval after the job was added.
        next: (after) =>
          anchorMs + Math.max(1, Math.floor((after - anchorMs) / interval) + 1) * interval,
      };
    }
    case "cron": {
      const fields = spec.cron.trim().split(/\s+/).length;
      if (fields !== 5 && fields !== 6) {
        throw new ScheduleError(
          `cron ${JSON.stringify(spec.cron)} has ${fields} fields: use 5 (minute hour day month ` +
            "weekday) or 6 (with seconds first)",
        );
      }
      let cron: Cron;
      try {
        cron = new Cron(spec.cron, { paused: true, ...(spec.tz ? { timezone: spec.tz } : {}) });
        cron.nextRun(new Date(anchorMs)); // an unknown time zone fails only here
      } catch (err) {
        throw new ScheduleError(`cron ${JSON.stringify(spec.cron)}: ${shortReason(err)}`);
      }
      return {
        spec,
        next: (after) => cron.nextRun(new Date(after))?.getTime(),
      };
    }
  }
}

function shortReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/timezone/i.test(message)) {
    return "unknown time zone: use an IANA name such as Europe/Berlin or America/New_York";
  }
  return message.replace(/^CronPattern:\s*/, "").split(". Original error")[0];
}

/** A schedule in words, for listings: `at 2026-12-24T17:00:00Z`, `every 15m`, `cron 0 8 * * * (Europe/Berlin)`. */
export function describeSchedule(spec: ScheduleSpec): string {
  if (spec.kind === "at") return `at ${spec.at}`;
  if (spec.kind === "every") return `every ${spec.every}`;
  return `cron ${spec.cron}${spec.tz ? ` (${spec.tz})` : ""}`;
}
