/** `gatehouse send`: one turn from the command line. */
import { MAIN_SESSION_KEY, sessionKeyProblem } from "../kernel/mod.ts";
import { sendAndWait } from "./client.ts";
import { statusLine } from "./run_lines.ts";
import { type Command, parse, UsageError } from "./command.ts";
import { connectTarget, TARGET_OPTIONS, TARGET_USAGE, type TargetFlags } from "./target.ts";

export const send: Command = {
  name: "send",
  summary: "send one message and print the reply",
  usage: `gatehouse send [--session KEY] [--queue-mode MODE] "text"

Sends one message, streams nothing, prints the final reply. Exit 0 on a reply, 1 on an error.
  --session KEY       session key (default: ${MAIN_SESSION_KEY})
  --queue-mode MODE   followup | collect | interrupt | steer (default: agent.queue.mode)
${TARGET_USAGE}`,
  async run(args, env) {
    const { values, positionals } = parse(args, {
      ...TARGET_OPTIONS,
      session: { type: "string" },
      "queue-mode": { type: "string" },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const text = positionals.join(" ");
    if (!text.trim()) throw new UsageError(`nothing to send: gatehouse send "your message"`);
    const sessionKey = (values.session as string | undefined) ?? MAIN_SESSION_KEY;
    const problem = sessionKeyProblem(sessionKey);
    if (problem) throw new UsageError(problem);
    const client = await connectTarget(values as TargetFlags, env, {
      clientId: "cli",
      mode: "cli",
    });
    try {
      const r = await sendAndWait(client, {
        sessionKey,
        message: text,
        ...(values["queue-mode"] ? { queueMode: values["queue-mode"] as string } : {}),
      }, { onStatus: (s) => console.error(`gatehouse: ${statusLine(s)}`) });
      if (r.state === "final") {
        console.log(r.text);
        return 0;
      }
      if (r.text) console.log(r.text);
      console.error(`gatehouse: turn ${r.state}: ${r.error?.message ?? "no reply"}`);
      return 1;
    } finally {
      await client.close();
    }
  },
};
