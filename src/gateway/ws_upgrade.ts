/** The WebSocket door: Origin check, then a Connection for the socket. */
import type { ConnectionDeps } from "./connection.ts";
import { Connection } from "./connection.ts";

/** Origins a browser may open the socket from: the gateway's own loopback origins plus the allowlist. */
export function allowedOrigins(port: number, extra: string[]): Set<string> {
  const own = ["127.0.0.1", "localhost", "[::1]"].map((h) => `http://${h}:${port}`);
  return new Set([...own, ...extra.map((o) => new URL(o).origin)]);
}

/**
 * Whether a page served by this gateway at an IP address (a LAN or custom bind) is calling home.
 * Only IP literals count: a host name could be rebound by DNS to an attacker's page.
 */
function sameIpOrigin(origin: string, host: string | null): boolean {
  if (!host || origin !== `http://${host}`) return false;
  const hostname = host.replace(/:\d+$/, "");
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || /^\[[0-9a-f:.]+\]$/i.test(hostname);
}

/** Upgrades `/ws` requests; refuses foreign browser origins before any frame is exchanged. */
export function createUpgrade(
  deps: ConnectionDeps & {
    origins: () => Set<string>;
    connections: Set<Connection>;
  },
): (req: Request, remote: string) => Response {
  return (req, remote) => {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json(
        {
          error:
            "this endpoint speaks WebSocket: connect with a WebSocket client (see docs/protocol.md)",
        },
        { status: 426, headers: { upgrade: "websocket" } },
      );
    }
    // No Origin header means a non-browser client: allowed, and it still has to authenticate.
    const origin = req.headers.get("origin");
    if (
      origin !== null && !deps.origins().has(origin) &&
      !sameIpOrigin(origin, req.headers.get("host"))
    ) {
      deps.logger.warn("websocket refused: origin not allowed", { origin, source: remote });
      return Response.json(
        {
          error: `origin ${origin} may not open the gateway WebSocket: ` +
            `add it to gateway.allowed_origins if you trust it`,
        },
        { status: 403 },
      );
    }
    const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 120 });
    const conn = new Connection(socket, remote, deps);
    deps.connections.add(conn);
    socket.addEventListener("close", () => deps.connections.delete(conn));
    return response;
  };
}
