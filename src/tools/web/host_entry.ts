/** `tools.web_fetch` host entries (`host` or `host:port`) in canonical form. */
import { formatAddress, parseHostAddress } from "./addresses.ts";

/** A `tools.web_fetch` host entry: canonical host (IP text, or lower-case punycode name), port. */
export interface HostEntry {
  host: string;
  /** Undefined when the entry names no port (any port). */
  port?: number;
}

/**
 * Parses `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; undefined when the
 * entry is not a host. Addresses in any spelling become their canonical text, so entries and URLs
 * compare as equals.
 */
export function parseHostEntry(entry: string): HostEntry | undefined {
  const e = entry.trim();
  let host = e, port: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(e);
  if (bracket) [host, port] = [bracket[1], bracket[2]];
  else if (e.split(":").length === 2) [host, port] = e.split(":");
  if (port !== undefined && !/^\d{1,5}$/.test(port)) return undefined;
  host = host.replace(/\.$/, "");
  const ip = parseHostAddress(host);
  if (ip) return { host: formatAddress(ip), port: port === undefined ? undefined : Number(port) };
  try {
    host = new URL(`http://${host}/`).hostname; // the same IDNA (punycode) form as a URL's host
  } catch {
    return undefined;
  }
  if (host === "" || host.includes(":")) return undefined;
  return { host, port: port === undefined ? undefined : Number(port) };
}
