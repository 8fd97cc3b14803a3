/** `gatehouse chat`: a line chat with streamed replies. */
import { type ApprovalRequest, MAIN_SESSION_KEY, sessionKeyProblem } from "../kernel/mod.ts";
import { ClientError, type GatewayClient, sendAndWait } from "./client.ts";
import { type Command, parse, UsageError } from "./command.ts";
import { LineRouter } from "./line_router.ts";
import { statusLine, toolLine } from "./run_lines.ts";
import { sessionTable } from "./sessions.ts";
import { connectTarget, TARGET_OPTIONS, TARGET_USAGE, type TargetFlags } from "./target.ts";

const HELP = `commands: /new (fresh session)  /reset (clear this session)  /sessions  /session KEY
          /status  /model [provider/model | default]  /help  /quit
          /stop or Ctrl-C stops a running reply`;

const encoder = new TextEncoder();
const write = (s: string) => Deno.stdout.writeSync(encoder.encode(s));

/** Lines of stdin, one at a time. */
async function* lines(): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of Deno.stdin.readable) {
    buf += decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i).replace(/\r$/, "");
      buf = buf.slice(i + 1);
    }
  }
  if (buf) yield buf;
}

async function slash(
  client: GatewayClient,
  line: string,
  state: { session: string },
): Promise<boolean> {
  const [cmd, ...rest] = line.trim().split(/\s+/);
  const arg = rest.join(" ");
  switch (cmd) {
    case "/quit":
    case "/exit":
      return false;
    case "/help":
      console.log(HELP);
      break;
    case "/new":
      state.session = `agent:main:cli:direct:${crypto.randomUUID().slice(0, 8)}`;
      console.log(`new session ${state.session}`);
      break;
    case "/session": {
      const problem = sessionKeyProblem(arg);
      if (problem) console.log(problem);
      else {
        state.session = arg;
        console.log(`session ${state.session}`);
      }
      break;
    }
    case "/reset":
      try {
        await client.request("sessions.reset", { sessionKey: state.session });
        console.log(`session ${state.session} cleared`);
      } catch (err) {
        console.log((err as Error).message);
      }
      break;
    case "/sessions": {
      // deno-lint-ignore no-explicit-any
      const r = await client.request<any>("sessions.list", {});
      console.log(sessionTable(r.sessions));
      break;
    }
    default:
      console.log(`unknown command ${cmd}; ${HELP}`);
  }
  return true;
}

/** Asks on the terminal whether to allow a pending tool call, and sends the answer. */
async function askApproval(
  client: GatewayClient,
  request: ApprovalRequest,
  input: LineRouter,
): Promise<void> {
  write(
    `\n[approval needed] ${request.tool}: ${request.summary}\n` +
      "allow? y = once, a = always, n = deny: ",
  );
  const answer = (await input.answer())?.trim().toLowerCase() ?? "n";
  const decision = answer === "y" || answer === "yes"
    ? "allow-once"
    : answer === "a" || answer === "always"
    ? "allow-always"
    : "deny";
  try {
    await client.request("exec.approval.resolve", { id: request.id, decision });
    write(`[${decision}]\n`);
  } catch (err) {
    write(`[not applied: ${(err as Error).message}]\n`);
  }
}

export const chat: Command = {
  name: "chat",
  summary: "chat with the agent from the terminal",
  usage: `gatehouse chat [--session KEY]

Line chat with streamed replies. ${HELP}
  --session KEY   session key (default: ${MAIN_SESSION_KEY})
${TARGET_USAGE}`,
  async run(args, env) {
    const { values } = parse(args, { ...TARGET_OPTIONS, session: { type: "string" } });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const session = (values.session as string | undefined) ?? MAIN_SESSION_KEY;
    const problem = sessionKeyProblem(session);
    if (problem) throw new UsageError(problem);
    const client = await connectTarget(values as TargetFlags, env, {
      clientId: "cli",
      mode: "cli",
    });
    return await runChat(client, { session });
  },
};

/** Options of {@linkcode runChat}. */
export interface ChatOptions {
  /** The session to chat in (`/new` and `/session` change it). */
  session: string;
  /**
   * Handle Ctrl-C on a terminal: stop the running reply, or quit when none runs. The tunnel turns
   * it off, since Ctrl-C also reaches its ssh and ends the tunnel. @default true
   */
  handleCtrlC?: boolean;
}

/**
 * The line chat over a connected client, until /quit or the end of stdin; closes the client.
 * Returns the exit code. Used by `gatehouse chat` and `gatehouse tunnel`.
 */
export async function runChat(client: GatewayClient, options: ChatOptions): Promise<number> {
  const state = { session: options.session };
  const interactive = Deno.stdin.isTerminal();
  const handleCtrlC = interactive && (options.handleCtrlC ?? true);
  let running = false;
  const onSigint = () => {
    if (running) client.request("chat.abort", { sessionKey: state.session }).catch(() => {});
    else Deno.exit(130);
  };
  if (handleCtrlC) Deno.addSignalListener("SIGINT", onSigint);
  // deno-lint-ignore no-explicit-any
  const server = (client.hello as any).server;
  console.log(
    `connected to gatehouse ${server?.version ?? ""}; session ${state.session}. /help for commands`,
  );
  const input = new LineRouter(lines());
  input.onStop = () => client.request("chat.abort", { sessionKey: state.session }).catch(() => {});
  // A tool call of this session waiting for approval is asked about inline, on the next line.
  const offApprovals = client.onEvent((e) => {
    if (e.event !== "exec.approval.requested" || e.payload.sessionKey !== state.session) return;
    void askApproval(client, e.payload as unknown as ApprovalRequest, input);
  });
  try {
    const prompt = () => interactive && write("you> ");
    prompt();
    for (let line = await input.next(); line !== undefined; line = await input.next()) {
      if (!line.trim()) {
        prompt();
        continue;
      }
      // `/model` and `/status` are answered by the gateway (as on every channel), so they are
      // sent as messages; the others act on this terminal's own state.
      if (line.startsWith("/") && !/^\/(models?|status|stop)(\s|$)/.test(line)) {
        if (!(await slash(client, line, state))) break;
        prompt();
        continue;
      }
      running = input.running = true;
      write("agent> ");
      try {
        let streamed = false;
        const r = await sendAndWait(client, { sessionKey: state.session, message: line }, {
          onDelta: (text) => {
            streamed = true;
            write(text);
          },
          onStatus: (s, text) => write(`\n${statusLine(s)}\nagent> ${text}`),
          onTool: (d) => {
            const shown = toolLine(d);
            if (shown) write(`\n${shown}\n`);
          },
        });
        // Answers the gateway gives at once (`/model`) come whole, with no deltas.
        if (r.state === "final") write(streamed ? "\n" : `${r.text}\n`);
        else write(`\n[${r.state}: ${r.error?.message ?? "no reply"}]\n`);
      } catch (err) {
        if (err instanceof ClientError && err.code === "CLOSED") throw err;
        write(`\n[error: ${(err as Error).message}]\n`);
      } finally {
        running = input.running = false;
      }
      prompt();
    }
    return 0;
  } finally {
    offApprovals();
    if (handleCtrlC) Deno.removeSignalListener("SIGINT", onSigint);
    await client.close();
  }
}
