/** `gatehouse tunnel user@host`: an SSH forward to a remote gateway, and the chat through it. */
import { MAIN_SESSION_KEY, sessionKeyProblem } from "../kernel/mod.ts";
import { TUNNEL_HOST } from "../permissions/mod.ts";
import { runChat } from "./chat.ts";
import { ClientError, GatewayClient } from "./client.ts";
import { type Command, parse, UsageError } from "./command.ts";
import { SshTunnel } from "./ssh_tunnel.ts";
import { homeOf, remoteToken } from "./target.ts";

/** How long the tunnel may take to come up; longer on a terminal, where ssh may ask things. */
const WAIT_MS = { batch: 15_000, terminal: 120_000 };

function port(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new UsageError(`${flag} ${JSON.stringify(value)}: give a port number from 1 to 65535`);
  }
  return n;
}

function freeLocalPort(): number {
  const listener = Deno.listen({ hostname: TUNNEL_HOST, port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

export const tunnel: Command = {
  name: "tunnel",
  summary: "chat with a remote gateway through an SSH tunnel it opens and closes",
  usage: `gatehouse tunnel USER@HOST [flags] [-- SSH ARGS]

Starts \`ssh -N -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE USER@HOST\` on a free local port, waits until
the remote gateway answers through it (15 s; 2 min on a terminal, where ssh may ask for a
passphrase or to confirm the host key), opens the chat through it, and stops ssh when the chat
ends, on Ctrl-C, SIGTERM or an error. Arguments after -- go to ssh before ours, so they win:
  gatehouse tunnel me@vps -- -p 2222 -i ~/.ssh/vps -o UserKnownHostsFile=~/.ssh/known_vps
Ctrl-C also reaches ssh (it shares the terminal, to ask its questions) and ends the tunnel; to stop
a running reply and stay, type /stop.
  --remote-port N     the gateway's port on the remote host's loopback (default: 18789)
  --local-port N      listen on this local port (default: a free one)
  --token-file FILE   read the remote gateway's token from FILE (or set GATEHOUSE_TOKEN; on a
                      terminal, without either, it is asked for and not shown)
  --session KEY       session key (default: ${MAIN_SESSION_KEY})`,
  async run(args, env) {
    // Everything after the first `--` belongs to ssh, and is not parsed here.
    const sep = args.indexOf("--");
    const own = sep < 0 ? args : args.slice(0, sep);
    const sshArgs = sep < 0 ? [] : args.slice(sep + 1);
    const { values, positionals } = parse(own, {
      "remote-port": { type: "string" },
      "local-port": { type: "string" },
      "token-file": { type: "string" },
      session: { type: "string" },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length
          ? `one destination, got ${positionals.length}: ${
            positionals.join(" ")
          } (ssh arguments go after --)`
          : "which host? gatehouse tunnel USER@HOST",
      );
    }
    const destination = positionals[0];
    if (destination.startsWith("-")) {
      throw new UsageError(`destination ${JSON.stringify(destination)}: ssh options go after --`);
    }
    const remotePort = port(values["remote-port"] as string | undefined, "--remote-port", 18789);
    const session = (values.session as string | undefined) ?? MAIN_SESSION_KEY;
    const problem = sessionKeyProblem(session);
    if (problem) throw new UsageError(problem);

    // The token first: a missing one should not cost an SSH connection.
    const token = await remoteToken(values as { "token-file"?: string }, env, {
      url: `the gateway on ${destination} (port ${remotePort})`,
      home: homeOf(env),
    });
    const localPort = port(values["local-port"] as string | undefined, "--local-port", 0) ||
      freeLocalPort();
    const ssh = SshTunnel.open({ destination, localPort, remotePort, sshArgs });

    // ssh must not outlive this process, however it ends: `Deno.exit` (which the chat and the
    // signal handlers below use) runs no `finally`, but it does fire `unload`.
    const onUnload = () => ssh.killSync();
    globalThis.addEventListener("unload", onUnload);
    const signals: Deno.Signal[] = Deno.build.os === "windows"
      ? ["SIGINT"]
      : ["SIGINT", "SIGTERM", "SIGHUP"];
    const onSignal: Record<string, () => void> = {};
    for (const sig of signals) {
      onSignal[sig] = () => {
        ssh.killSync();
        console.error(`\ngatehouse: ${sig}: tunnel to ${destination} closed`);
        Deno.exit(sig === "SIGINT" ? 130 : sig === "SIGTERM" ? 143 : 129);
      };
      Deno.addSignalListener(sig, onSignal[sig]);
    }
    let closing = false;
    try {
      await ssh.ready({ timeoutMs: Deno.stdin.isTerminal() ? WAIT_MS.terminal : WAIT_MS.batch });
      const client = await GatewayClient.connect(ssh.wsUrl, {
        token,
        clientId: "cli",
        mode: "cli",
      });
      console.error(
        `gatehouse: tunnel to ${destination} up on ${TUNNEL_HOST}:${localPort} (ssh pid ${ssh.pid})`,
      );
      // While the chat waits for a line, a tunnel that drops would go unnoticed: say so and end.
      // (A moment later: on Ctrl-C ssh exits too, and the signal handler's word is the right one.)
      ssh.exited.then(() =>
        setTimeout(() => {
          if (closing) return;
          console.error(`\ngatehouse: the tunnel to ${destination} closed: ${ssh.describeExit()}`);
          Deno.exit(1);
        }, 200)
      );
      return await runChat(client, { session, handleCtrlC: false });
    } catch (err) {
      closing = true;
      // A connection lost mid-reply is the tunnel's doing when ssh is gone: say that instead.
      if (err instanceof ClientError && err.code === "CLOSED") {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([ssh.exited, new Promise((r) => (timer = setTimeout(r, 500)))]);
        clearTimeout(timer);
        if (ssh.status) {
          throw new ClientError(
            "UNAVAILABLE",
            `the tunnel to ${destination} closed: ${ssh.describeExit()}`,
          );
        }
      }
      throw err;
    } finally {
      closing = true;
      for (const sig of signals) Deno.removeSignalListener(sig, onSignal[sig]);
      await ssh.close();
      globalThis.removeEventListener("unload", onUnload);
    }
  },
};
