/**
 * `gatehouse dashboard`: prints the browser page's address with the token in the fragment
 * (`http://127.0.0.1:18789/#token=…`). Browsers never send a fragment to a server, and the page
 * drops it from the address bar as soon as it has read it.
 */
import { GatehouseError } from "../kernel/mod.ts";
import { type Command, parse } from "./command.ts";
import { resolveTarget, TARGET_OPTIONS, TARGET_USAGE } from "./target.ts";

/** The page's address for a gateway's WebSocket URL, with the token in the fragment. */
export function dashboardUrl(wsUrl: string, token: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  u.pathname = "/";
  u.search = "";
  u.hash = `token=${encodeURIComponent(token)}`;
  return u.toString();
}

export const dashboard: Command = {
  name: "dashboard",
  summary: "print the browser page's address, with the token in its #fragment",
  usage: `gatehouse dashboard [--url ws://HOST:PORT/ws] [--token-file FILE] [--config FILE]

Prints the address of the gateway's browser page with the token after "#": open it in a browser
on this machine (or on your laptop through the SSH tunnel: docs/webchat.md). The page takes the
token from the fragment, removes it from the address bar and keeps it only in that tab.

It does not start a browser itself: the browser would get the address, token included, on its
command line, where other users of the machine can read it (ps).

For a remote gateway, forward its port (ssh -N -L 18789:127.0.0.1:18789 vps) and run
  gatehouse dashboard --url ws://127.0.0.1:18789/ws
which asks for the token without echo (or reads --token-file / GATEHOUSE_TOKEN), so it never
lands in your shell history.
${TARGET_USAGE}`,
  async run(args, env) {
    const { values } = parse(args, TARGET_OPTIONS);
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const target = await resolveTarget(
      {
        url: values.url as string | undefined,
        "token-file": values["token-file"] as string | undefined,
        config: values.config as string | undefined,
      },
      env,
    );
    if (!target.token) {
      throw new GatehouseError(
        "AUTH_REQUIRED",
        "no gateway token here yet: start the gateway once (`gatehouse start`) or create it with " +
          "`gatehouse token`, then run `gatehouse dashboard` again",
      );
    }
    console.log(dashboardUrl(target.url, target.token));
    return 0;
  },
};
