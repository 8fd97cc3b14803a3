/**
 * What web_fetch needs from Deno for a policy. Kept apart from the tool so that computing the
 * gateway's permissions (at every start) loads neither the fetcher nor its DNS resolver.
 */
import { parseHostAddress } from "./addresses.ts";
import { parseHostEntry } from "./host_entry.ts";

/**
 * The Deno net grants web_fetch needs: "all" when any public host may be fetched, else the listed
 * hosts and private hosts. A listed DNS name is granted without its port, because the guard looks
 * it up (getaddrinfo) and Deno checks a lookup against the bare name; the guard still holds the
 * port. Private hosts are not looked up, so they keep theirs.
 */
export function webFetchNeeds(
  policy: { hosts: string[]; privateHosts: string[] },
): { net: string[] | "all" } {
  if (policy.hosts.length === 0) return { net: "all" };
  const net = new Set<string>();
  const privateSet = new Set(policy.privateHosts.map((e) => grant(e, true)));
  for (const entry of policy.hosts) {
    const exact = grant(entry, true);
    net.add(privateSet.has(exact) ? exact : grant(entry, false));
  }
  for (const entry of privateSet) net.add(entry);
  return { net: [...net] };
}

/** A `host` / `host:port` entry as a `--allow-net` value (IPv6 bracketed). */
function grant(entry: string, keepPort: boolean): string {
  const e = parseHostEntry(entry);
  if (!e) return entry.trim(); // not a host: the runtime will say so
  const isIp = parseHostAddress(e.host) !== undefined;
  const isName = !isIp && e.host !== "localhost" && !e.host.endsWith(".localhost");
  const host = isIp && e.host.includes(":") ? `[${e.host}]` : e.host;
  return e.port !== undefined && (keepPort || !isName) ? `${host}:${e.port}` : host;
}
