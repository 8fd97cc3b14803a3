/**
 * @module
 * The command line of the one binary: `gatehouse <command> [flags]`.
 */
import { VERSION } from "../version.ts";
import { type Command, processEnv, report } from "./command.ts";

/**
 * The commands, each loaded only when run: `start` does not pay for the client commands' modules
 * (start-up time is a budget). In the order `gatehouse --help` lists them.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  start: async () => (await import("./start.ts")).start,
  chat: async () => (await import("./chat.ts")).chat,
  send: async () => (await import("./send.ts")).send,
  sessions: async () => (await import("./sessions.ts")).sessions,
  models: async () => (await import("./models.ts")).models,
  tools: async () => (await import("./tools.ts")).tools,
  approvals: async () => (await import("./approvals.ts")).approvals,
  pairing: async () => (await import("./pairing.ts")).pairing,
  cron: async () => (await import("./cron.ts")).cron,
  status: async () => (await import("./status.ts")).status,
  dashboard: async () => (await import("./dashboard.ts")).dashboard,
  tunnel: async () => (await import("./tunnel.ts")).tunnel,
  token: async () => (await import("./token.ts")).token,
  doctor: async () => (await import("./doctor.ts")).doctor,
  permissions: async () => (await import("./permissions.ts")).permissions,
  service: async () => (await import("./service.ts")).service,
};

async function usage(): Promise<string> {
  const commands = await Promise.all(Object.values(COMMANDS).map((load) => load()));
  const width = Math.max(...commands.map((c) => c.name.length));
  return `gatehouse ${VERSION}: a personal AI-agent gateway

usage: gatehouse <command> [flags]     (gatehouse <command> --help for its flags)

${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}`;
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(await usage());
    return 0;
  }
  if (name === "--version" || name === "version") {
    console.log(`gatehouse ${VERSION}`);
    return 0;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    console.error(`gatehouse: unknown command ${JSON.stringify(name)}\n\n${await usage()}`);
    return 2;
  }
  const command = await load();
  try {
    return await command.run(rest, processEnv);
  } catch (err) {
    const code = report(err);
    if (code === 2) console.error(`\n${command.usage}`);
    return code;
  }
}
