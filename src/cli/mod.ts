/**
 * @module
 * The command line of the one binary: `gatehouse <command> [flags]`.
 */
import { VERSION } from "../version.ts";
import { chat } from "./chat.ts";
import { type Command, processEnv, report } from "./command.ts";
import { approvals } from "./approvals.ts";
import { doctor } from "./doctor.ts";
import { models } from "./models.ts";
import { permissions } from "./permissions.ts";
import { send } from "./send.ts";
import { sessions } from "./sessions.ts";
import { start } from "./start.ts";
import { status } from "./status.ts";
import { token } from "./token.ts";
import { tools } from "./tools.ts";

const COMMANDS: Command[] = [
  start,
  chat,
  send,
  sessions,
  models,
  tools,
  approvals,
  status,
  token,
  doctor,
  permissions,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `gatehouse ${VERSION}: a personal AI-agent gateway

usage: gatehouse <command> [flags]     (gatehouse <command> --help for its flags)

${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}`;
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return 0;
  }
  if (name === "--version" || name === "version") {
    console.log(`gatehouse ${VERSION}`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`gatehouse: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest, processEnv);
  } catch (err) {
    const code = report(err);
    if (code === 2) console.error(`\n${command.usage}`);
    return code;
  }
}
