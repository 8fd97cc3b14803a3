/**
 * Session keys: the one function that turns where a message came from into the key that names its
 * session in the store and its lane in the scheduler.
 */

/** How direct messages map to sessions. */
export type DmScope = "main" | "per-peer" | "per-channel-peer";

/** Where a message came from, as far as routing cares. */
export type Route =
  | { kind: "main" }
  | { kind: "direct"; channel: string; peer: string }
  | { kind: "group"; channel: string; group: string; thread?: string; topic?: string }
  | { kind: "cron"; jobId: string }
  | { kind: "hook"; id: string };

/** The agent id; one agent for now, kept in the key so keys stay compatible when more arrive. */
export const AGENT_ID = "main";

/** The operator's main session. */
export const MAIN_SESSION_KEY = `agent:${AGENT_ID}:main`;

const SEGMENT = /^[A-Za-z0-9_.@+\-]{1,128}$/;

function segment(name: string, value: string): string {
  const v = value.trim().toLowerCase();
  if (!SEGMENT.test(v)) {
    throw new TypeError(
      `session key: ${name} ${
        JSON.stringify(value)
      } must be 1-128 characters of A-Z a-z 0-9 _ . @ + -`,
    );
  }
  return v;
}

/** Builds the session key for a route under a DM scope. */
export function sessionKeyFor(route: Route, dmScope: DmScope = "main"): string {
  switch (route.kind) {
    case "main":
      return MAIN_SESSION_KEY;
    case "direct": {
      if (dmScope === "main") return MAIN_SESSION_KEY;
      const peer = segment("peer", route.peer);
      if (dmScope === "per-peer") return `agent:${AGENT_ID}:direct:${peer}`;
      return `agent:${AGENT_ID}:${segment("channel", route.channel)}:direct:${peer}`;
    }
    case "group": {
      let key = `agent:${AGENT_ID}:${segment("channel", route.channel)}:group:${
        segment("group", route.group)
      }`;
      if (route.topic !== undefined) key += `:topic:${segment("topic", route.topic)}`;
      else if (route.thread !== undefined) key += `:thread:${segment("thread", route.thread)}`;
      return key;
    }
    case "cron":
      return `cron:${segment("job id", route.jobId)}`;
    case "hook":
      return `hook:${segment("hook id", route.id)}`;
  }
}

const KEY_PATTERNS = [
  /^agent:[a-z0-9_-]+:main$/,
  /^agent:[a-z0-9_-]+:direct:[a-z0-9_.@+\-]+$/,
  /^agent:[a-z0-9_-]+:[a-z0-9_.@+\-]+:direct:[a-z0-9_.@+\-]+$/,
  /^agent:[a-z0-9_-]+:[a-z0-9_.@+\-]+:group:[a-z0-9_.@+\-]+(:(thread|topic):[a-z0-9_.@+\-]+)?$/,
  /^(cron|hook):[a-z0-9_.@+\-]+$/,
];

/** Whether `key` is a well-formed session key (the grammar of {@linkcode sessionKeyFor}). */
export function isSessionKey(key: string): boolean {
  return key.length <= 512 && KEY_PATTERNS.some((p) => p.test(key));
}

/** The problem with a session key as a sentence, or undefined when it is fine. */
export function sessionKeyProblem(key: string): string | undefined {
  if (isSessionKey(key)) return undefined;
  return `session key ${JSON.stringify(key.slice(0, 80))} is not valid: use ${MAIN_SESSION_KEY}, ` +
    `agent:main:<channel>:direct:<peer>, agent:main:<channel>:group:<id>[:topic:<id>], ` +
    `cron:<id> or hook:<id> (lower case; segments of a-z 0-9 _ . @ + -)`;
}
