/**
 * IP addresses for the web_fetch guard: every spelling of an address a URL or a resolver can hand
 * us, parsed to bytes, and the ranges a fetch must not reach (loopback, private, link-local, cloud
 * metadata, …) with a short reason for each.
 */

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address. */
export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

/**
 * Parses a host that is an IP address, in any spelling fetch accepts: IPv4 dotted, decimal
 * (`2130706433`), hex (`0x7f000001`), octal (`0177.0.0.1`) and short (`127.1`) forms, IPv6 with or
 * without brackets and zone id. Returns undefined for anything else (a DNS name).
 */
export function parseHostAddress(host: string): IpAddress | undefined {
  let h = host.trim();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.includes(":")) return parseIpv6(h);
  return parseIpv4(h);
}

/** The canonical text of an address: dotted IPv4, RFC 5952 IPv6 (`::ffff:1.2.3.4` when mapped). */
export function formatAddress(ip: IpAddress): string {
  const b = ip.bytes;
  if (ip.family === 4) return b.join(".");
  if (isZero(b, 0, 10) && b[10] === 0xff && b[11] === 0xff) {
    return `::ffff:${b.subarray(12).join(".")}`;
  }
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i] << 8) | b[i + 1]);
  // The longest run of two or more zero words becomes "::" (the first such run on a tie).
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (bestAt < 0) return hex(words);
  return `${hex(words.slice(0, bestAt))}::${hex(words.slice(bestAt + bestLen))}`;
}

/**
 * Why web_fetch must not reach `ip`, or undefined for a public address. A string that is not an
 * address is refused too (the guard fails closed).
 */
export function blockedReason(ip: IpAddress | string): string | undefined {
  const addr = typeof ip === "string" ? parseHostAddress(ip) : ip;
  if (!addr) return "not an IP address";
  return addr.family === 4 ? ipv4Reason(addr.bytes) : ipv6Reason(addr.bytes);
}

interface Range {
  /** Network bytes, prefix length, text for messages. */
  net: number[];
  bits: number;
  cidr: string;
  reason: string;
}

const range = (cidr: string, reason: string): Range => {
  const [text, bits] = cidr.split("/");
  const ip = parseHostAddress(text)!;
  return { net: [...ip.bytes], bits: Number(bits), cidr, reason };
};

/** IPv4 ranges web_fetch refuses; single addresses come before the ranges that hold them. */
const IPV4_BLOCKED: readonly Range[] = [
  range("169.254.169.254/32", "cloud metadata address (AWS, GCP, Azure, OCI …)"),
  range("100.100.100.200/32", "cloud metadata address (Alibaba Cloud)"),
  range("168.63.129.16/32", "cloud platform address (Azure wireserver)"),
  range("255.255.255.255/32", "broadcast address"),
  range("0.0.0.0/8", "unspecified address"),
  range("127.0.0.0/8", "loopback address"),
  range("10.0.0.0/8", "private network address"),
  range("172.16.0.0/12", "private network address"),
  range("192.168.0.0/16", "private network address"),
  range("169.254.0.0/16", "link-local address"),
  range("100.64.0.0/10", "carrier-grade NAT address"),
  range("192.0.0.0/24", "IETF protocol assignment address"),
  range("192.0.2.0/24", "documentation address"),
  range("198.51.100.0/24", "documentation address"),
  range("203.0.113.0/24", "documentation address"),
  range("192.88.99.0/24", "6to4 relay anycast address"),
  range("198.18.0.0/15", "benchmarking address"),
  range("224.0.0.0/4", "multicast address"),
  range("240.0.0.0/4", "reserved address"),
];

/** IPv6 ranges refused as they are (the ones embedding IPv4 are handled before these). */
const IPV6_BLOCKED: readonly Range[] = [
  range("fd00:ec2::254/128", "cloud metadata address (AWS)"),
  range("::/128", "unspecified address"),
  range("::1/128", "loopback address"),
  range("64:ff9b:1::/48", "local-use NAT64 address"),
  range("100::/64", "discard-only address"),
  range("2001:db8::/32", "documentation address"),
  range("3fff::/20", "documentation address"),
  range("fc00::/7", "private network address (unique local)"),
  range("fe80::/10", "link-local address"),
  range("fec0::/10", "site-local address"),
  range("ff00::/8", "multicast address"),
];

function inRange(bytes: Uint8Array, r: Range): boolean {
  if (bytes.length !== r.net.length) return false;
  const full = r.bits >> 3, rest = r.bits & 7;
  for (let i = 0; i < full; i++) if (bytes[i] !== r.net[i]) return false;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[full] & mask) === (r.net[full] & mask);
}

function ipv4Reason(bytes: Uint8Array): string | undefined {
  const hit = IPV4_BLOCKED.find((r) => inRange(bytes, r));
  return hit && `${hit.reason} (${hit.cidr})`;
}

function ipv6Reason(b: Uint8Array): string | undefined {
  // IPv6 forms that carry an IPv4 address reach that address: judge the address inside.
  const embedded = (at: number, form: string, cidr: string, flip = false) => {
    const v4 = b.slice(at, at + 4).map((x) => flip ? x ^ 0xff : x);
    const reason = ipv4Reason(v4);
    return reason && `${reason} inside an ${form} IPv6 address (${cidr})`;
  };
  if (isZero(b, 0, 10) && b[10] === 0xff && b[11] === 0xff) {
    return embedded(12, "IPv4-mapped", "::ffff:0:0/96");
  }
  if (isZero(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0) {
    return embedded(12, "IPv4-translated", "::ffff:0:0:0/96");
  }
  if (startsWith(b, [0x00, 0x64, 0xff, 0x9b]) && isZero(b, 4, 12)) {
    return embedded(12, "NAT64", "64:ff9b::/96"); // a public address through NAT64 is fine
  }
  const hit = IPV6_BLOCKED.find((r) => inRange(b, r));
  if (hit) return `${hit.reason} (${hit.cidr})`;
  if (isZero(b, 0, 12)) {
    return embedded(12, "IPv4-compatible", "::/96") ??
      "deprecated IPv4-compatible address (::/96)";
  }
  if (startsWith(b, [0x20, 0x02])) return embedded(2, "6to4", "2002::/16");
  if (startsWith(b, [0x20, 0x01, 0x00, 0x00])) {
    return embedded(4, "Teredo (server)", "2001::/32") ??
      embedded(12, "Teredo (client)", "2001::/32", true);
  }
  // Everything outside global unicast (2000::/3) not named above is unassigned or reserved.
  if ((b[0] & 0xe0) !== 0x20) return "reserved address (outside 2000::/3)";
  return undefined;
}

function isZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

function startsWith(b: Uint8Array, prefix: number[]): boolean {
  return prefix.every((x, i) => b[i] === x);
}

/**
 * The WHATWG URL IPv4 parser (what fetch does with a host): 1 to 4 dot-separated numbers, each
 * decimal, octal (leading 0) or hex (0x), the last one filling the remaining bytes.
 */
function parseIpv4(host: string): IpAddress | undefined {
  const parts = host.split(".");
  if (parts.length > 1 && parts.at(-1) === "") parts.pop(); // one trailing dot is allowed
  if (parts.length === 0 || parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = parseIpv4Number(part);
    if (n === undefined) return undefined;
    numbers.push(n);
  }
  const last = numbers.pop()!;
  if (numbers.some((n) => n > 255)) return undefined;
  if (last >= 256 ** (4 - numbers.length)) return undefined;
  let value = last;
  numbers.forEach((n, i) => (value += n * 256 ** (3 - i)));
  const bytes = new Uint8Array(4);
  for (let i = 3; i >= 0; i--) {
    bytes[i] = value % 256;
    value = Math.floor(value / 256);
  }
  return { family: 4, bytes };
}

function parseIpv4Number(part: string): number | undefined {
  if (part === "") return undefined;
  let digits = part, radix = 10, pattern = /^[0-9]+$/;
  if (/^0x/i.test(part)) {
    [digits, radix, pattern] = [part.slice(2), 16, /^[0-9a-f]*$/i];
  } else if (part.length > 1 && part.startsWith("0")) {
    [digits, radix, pattern] = [part.slice(1), 8, /^[0-7]+$/];
  }
  if (!pattern.test(digits)) return undefined;
  if (digits === "") return 0; // "0x" alone is zero, as in the URL standard
  const n = parseInt(digits, radix);
  return Number.isSafeInteger(n) ? n : Infinity;
}

/** RFC 4291 text: eight hex words, one "::" for a run of zeros, an IPv4 tail, a `%zone` dropped. */
function parseIpv6(host: string): IpAddress | undefined {
  const zone = host.indexOf("%");
  const text = (zone >= 0 ? host.slice(0, zone) : host).toLowerCase();
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const words = (half: string, isLast: boolean): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const groups = half.split(":");
    for (const [i, g] of groups.entries()) {
      if (isLast && i === groups.length - 1 && g.includes(".")) {
        const v4 = strictDottedQuad(g);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-f]{1,4}$/.test(g)) {
        out.push(parseInt(g, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = words(halves[0], halves.length === 1);
  const tail = halves.length === 2 ? words(halves[1], true) : [];
  if (!head || !tail) return undefined;
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const all = [...head, ...new Array(8 - count).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return { family: 6, bytes };
}

function strictDottedQuad(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = parts.map((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) ? Number(p) : NaN);
  return out.every((n) => n <= 255) ? out : undefined;
}
