/** `time_now`: the current date and time, in UTC and optionally in an IANA time zone. */
import { z } from "zod";
import type { Clock, Tool } from "../../kernel/mod.ts";

const params = z.object({
  timezone: z.string().max(64).optional().describe(
    'IANA time zone such as "Europe/Berlin"; omit for UTC only',
  ),
}).strict();

/** Creates the tool over `clock`. */
export function timeNowTool(clock: Clock): Tool<typeof params> {
  return {
    name: "time_now",
    description: "Returns the current date and time (UTC, and local time in a given time zone).",
    params,
    group: "session",
    run({ timezone }) {
      const now = new Date(clock.now());
      const lines = [`utc: ${now.toISOString()}`];
      if (timezone) {
        let local: string;
        try {
          local = new Intl.DateTimeFormat("en-CA", {
            timeZone: timezone,
            dateStyle: "full",
            timeStyle: "long",
            hourCycle: "h23",
          }).format(now);
        } catch {
          throw new Error(
            `unknown time zone "${timezone}": use an IANA name like "America/New_York"`,
          );
        }
        lines.push(`${timezone}: ${local}`);
      }
      return Promise.resolve(lines.join("\n"));
    },
  };
}
