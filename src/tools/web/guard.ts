/**
 * The SSRF guard of web_fetch: whether a URL may be fetched, decided before any connection is made
 * and again for every redirect hop. Only http(s) without credentials; the host on the allowlist
 * when there is one; and the host's addresses (the literal, or every A and AAAA record) public,
 * unless the operator listed the host in `tools.web_fetch.private_hosts`.
 *
 * Known limit (DNS rebinding): the guard resolves the name, then fetch resolves it again when it
 * connects. A name with a short TTL can answer a public address to the guard and a private one to
 * fetch. Deno cannot pin fetch to the checked address (`Deno.createHttpClient` has no resolver
 * hook, and fetching the IP with a Host header would break TLS certificate checks), so the check
 * narrows the window but does not close it. A `hosts` allowlist of names whose DNS the operator
 * trusts does; the runtime's `--allow-net` fence then holds the same list.
 */
import { lookup } from "node:dns/promises";
import { blockedReason, formatAddress, parseHostAddress } from "./addresses.ts";
import { parseHostEntry } from "./host_entry.ts";

export { type HostEntry, parseHostEntry } from "./host_entry.ts";

/** Where web_fetch may go, from `tools.web_fetch`. */
export interface UrlPolicy {
  /**
   * Hosts (`host` = any port, or `host:port`) that may be fetched; empty means any public host.
   * Private hosts count as listed.
   */
  hosts: readonly string[];
  /** Hosts (`host` or `host:port`) allowed although they are or resolve to non-public addresses. */
  privateHosts: readonly string[];
}

/** Looks a name up: its IPv4 and IPv6 addresses as text. */
export type Resolver = (host: string, signal?: AbortSignal) => Promise<string[]>;

/** The guard's decision for one URL. */
export type UrlCheck =
  | { allow: true; url: URL; addresses: string[] }
  | { allow: false; reason: string };

/**
 * The addresses fetch could connect to: the system resolver (getaddrinfo, what fetch itself uses,
 * so `/etc/hosts` entries count) together with `Deno.resolveDns` A and AAAA. Either may fail —
 * `Deno.resolveDns` needs net access to the name server, which a narrow `--allow-net` does not
 * give — so the answer is the union of what succeeded; it fails only when nothing did.
 */
export const systemResolver: Resolver = async (host, signal) => {
  const answers = await Promise.allSettled([
    lookup(host, { all: true, verbatim: true }).then((rs) => rs.map((r) => r.address)),
    Deno.resolveDns(host, "A", { signal }),
    Deno.resolveDns(host, "AAAA", { signal }),
  ]);
  signal?.throwIfAborted();
  const found = answers.flatMap((a) => a.status === "fulfilled" ? a.value : []);
  if (found.length) return [...new Set(found)];
  const first = (answers[0] as PromiseRejectedResult).reason;
  const code = (first as { code?: string })?.code;
  // Deno checks a lookup against the bare name: a `host:port` grant does not cover it.
  if (code === "EPERM") throw new Error(`--allow-net must name "${host}" without a port`);
  if (code === "ENOTFOUND") throw new Error("no such host: check the name");
  throw first instanceof Error ? first : new Error("no A or AAAA records");
};

const LOOPBACK = ["127.0.0.1", "::1"];
const HOW_TO = "tools.web_fetch.private_hosts";

// Reasons are whole sentences without the URL: the caller says which URL (or redirect) it was.

/**
 * Whether `url` may be fetched under `policy`. Names are looked up with `resolve` (the system
 * resolver by default); `localhost` and `*.localhost` are loopback without a lookup, as in
 * browsers.
 */
export async function checkUrl(
  url: string | URL,
  policy: UrlPolicy,
  resolve: Resolver = systemResolver,
): Promise<UrlCheck> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return refuse(`"${clip(String(url))}" is not a valid URL: give an absolute http(s) URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    return refuse(`only http and https URLs are fetched, not ${u.protocol} URLs`);
  }
  if (u.username || u.password) {
    return refuse(
      `URLs with a user name or password are not fetched (${u.protocol}//…@${u.host}): ` +
        `remove the "user:password@" part; web_fetch never sends credentials`,
    );
  }
  const target = hostOf(u);
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const shown = u.host;
  const isPrivateHost = policy.privateHosts.some((e) => matches(e, target, port));
  if (
    policy.hosts.length && !isPrivateHost && !policy.hosts.some((e) => matches(e, target, port))
  ) {
    return refuse(
      `"${shown}" is not in tools.web_fetch.hosts (${policy.hosts.join(", ")}): ` +
        `fetch one of those hosts, or an operator can add it to the list`,
    );
  }
  // An operator listed this host as private on purpose: no address check (and no lookup).
  if (isPrivateHost) return { allow: true, url: u, addresses: [] };

  const literal = parseHostAddress(target);
  let addresses: string[];
  if (literal) {
    addresses = [formatAddress(literal)];
  } else if (target === "localhost" || target.endsWith(".localhost")) {
    addresses = LOOPBACK;
  } else {
    try {
      addresses = await resolve(target);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return refuse(`could not look up "${target}": ${why}`);
    }
    if (addresses.length === 0) {
      return refuse(`"${target}" has no A or AAAA records: check the host name`);
    }
  }
  for (const address of addresses) {
    const reason = blockedReason(address);
    if (reason) {
      // Name the address itself when the host spells it differently ([::ffff:a00:1] is 10.0.0.1).
      const via = !literal
        ? ` resolves to ${address}, which`
        : address === u.hostname.replace(/^\[|\]$/g, "")
        ? ""
        : ` (${address})`;
      return refuse(
        `"${shown}"${via} is ${article(reason)} ${reason}; web_fetch only reaches public ` +
          `addresses. An operator can allow this host by adding "${hostEntry(u)}" to ${HOW_TO}`,
      );
    }
  }
  return { allow: true, url: u, addresses };
}

/** The host of a URL as the policy compares it: lower case, no brackets or trailing dot. */
function hostOf(u: URL): string {
  const h = u.hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "").toLowerCase();
  const ip = parseHostAddress(h);
  return ip ? formatAddress(ip) : h;
}

/** The `host:port` entry that would allow `u`, for refusal messages. */
function hostEntry(u: URL): string {
  return u.port ? u.host : u.hostname;
}

/** Whether an entry covers a URL's canonical host and effective port. */
function matches(entry: string, host: string, port: number): boolean {
  const e = parseHostEntry(entry);
  return e !== undefined && e.host === host && (e.port === undefined || e.port === port);
}

function article(phrase: string): string {
  return /^[aeiou]/i.test(phrase) ? "an" : "a";
}

function refuse(reason: string): UrlCheck {
  return { allow: false, reason };
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
