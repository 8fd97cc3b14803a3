/**
 * Tool policy: which tools a conversation may use and in which mode (allow, ask, deny), with the
 * reasons. Layers, in order: the profile's groups; `tools.allow`; `tools.deny`; `tools.modes`;
 * the overrides whose channel and sender match; and last the runtime (a tool whose Deno
 * permissions were not granted is off whatever the config says). Deny always wins over allow.
 */
import type { ToolsConfig } from "../config/schema.ts";
import type { ToolGroup } from "../kernel/mod.ts";

/** How a tool may be used. */
export type ToolMode = "allow" | "ask" | "deny";

/** Who is asking: the channel and sender a conversation comes from (absent for the operator). */
export interface Origin {
  channel?: string;
  sender?: string;
}

/** The verdict for one tool and origin. */
export interface ToolDecision {
  name: string;
  group: ToolGroup;
  /** Offered to the model and runnable (mode allow or ask). */
  enabled: boolean;
  mode: ToolMode;
  /** The rules that decided, in the order they applied. */
  why: string[];
  /**
   * When the tool is off, the rule that switched it off (what a refused call is told): the runtime
   * first, then a deny list, then a `deny` mode, then owner-only, then the profile.
   */
  reason?: string;
}

/** Groups each profile starts from. */
export const PROFILE_GROUPS: Record<ToolsConfig["profile"], readonly ToolGroup[]> = {
  minimal: ["session"],
  messaging: ["session", "messaging"],
  coding: ["session", "fs", "runtime", "web"],
  full: ["session", "fs", "runtime", "web", "messaging"],
};

/** Modes that differ from `allow` unless the config says otherwise. */
export const DEFAULT_MODES: Readonly<Record<string, ToolMode>> = { exec: "ask" };

/** Tools only the owner's conversations get unless an override for the origin allows them. */
export const OWNER_ONLY: ReadonlySet<string> = new Set(["message", "cron"]);

/** The operator (CLI, control-plane clients, no channel) is the owner; channels add their own. */
export function operatorIsOwner(origin: Origin): boolean {
  return origin.channel === undefined || origin.channel === "cli" || origin.channel === "ws";
}

/** Decides tool use from the `[tools]` config, the registered tools and what the runtime disabled. */
export class ToolPolicy {
  #config: ToolsConfig;
  #tools: { name: string; group: ToolGroup }[];
  #disabled: ReadonlyMap<string, string>;

  #isOwner: (origin: Origin) => boolean;

  constructor(
    config: ToolsConfig,
    tools: { name: string; group: ToolGroup }[],
    disabled: ReadonlyMap<string, string> = new Map(),
    isOwner: (origin: Origin) => boolean = operatorIsOwner,
  ) {
    this.#config = config;
    this.#tools = tools;
    this.#disabled = disabled;
    this.#isOwner = isOwner;
  }

  /** Every registered tool's verdict for `origin`, in registration order. */
  all(origin: Origin): ToolDecision[] {
    return this.#tools.map((t) => this.#decide(t, origin));
  }

  /** One tool's verdict; undefined for a tool that is not registered. */
  decide(name: string, origin: Origin): ToolDecision | undefined {
    const tool = this.#tools.find((t) => t.name === name);
    return tool && this.#decide(tool, origin);
  }

  #decide(tool: { name: string; group: ToolGroup }, origin: Origin): ToolDecision {
    const c = this.#config;
    const matches = (refs: string[]) =>
      refs.some((r) => r === tool.name || r === `group:${tool.group}`);
    const why: string[] = [];
    let enabled = PROFILE_GROUPS[c.profile].includes(tool.group);
    why.push(
      enabled
        ? `profile ${c.profile} includes group:${tool.group}`
        : `profile ${c.profile} leaves out group:${tool.group}`,
    );
    const notInProfile = enabled ? undefined : why[0];
    let deniedBy: string | undefined;
    let allowedByOverride = false;
    if (matches(c.allow)) {
      enabled = true;
      why.push("tools.allow");
    }
    if (matches(c.deny)) {
      deniedBy ??= "tools.deny";
      why.push("tools.deny");
    }
    let mode: ToolMode = DEFAULT_MODES[tool.name] ?? "allow";
    let modeBy = `${tool.name} asks by default`;
    if (DEFAULT_MODES[tool.name]) why.push(modeBy);
    const configured = c.modes[tool.name];
    if (configured) {
      mode = configured;
      modeBy = `tools.modes.${tool.name} = ${configured}`;
      why.push(modeBy);
    }
    c.overrides.forEach((o, i) => {
      if (o.channel !== undefined && o.channel !== origin.channel) return;
      if (o.sender !== undefined && o.sender !== origin.sender) return;
      const at = `tools.overrides[${i}]`;
      if (matches(o.allow)) {
        enabled = true;
        allowedByOverride = true;
        why.push(`${at}.allow`);
      }
      if (matches(o.deny)) {
        deniedBy ??= `${at}.deny`;
        why.push(`${at}.deny`);
      }
      const m = o.modes[tool.name];
      if (m) {
        mode = m;
        modeBy = `${at}.modes.${tool.name} = ${m}`;
        why.push(modeBy);
      }
    });
    let ownerOnly: string | undefined;
    if (enabled && OWNER_ONLY.has(tool.name) && !allowedByOverride && !this.#isOwner(origin)) {
      enabled = false;
      ownerOnly = `${tool.name} is for the owner's conversations only`;
      why.push(ownerOnly);
    }
    const off = this.#disabled.get(tool.name);
    if (off) why.push(off);
    const reason = off ?? deniedBy ?? (mode === "deny" ? modeBy : undefined) ?? ownerOnly ??
      (enabled ? undefined : notInProfile);
    if (reason !== undefined) enabled = false;
    return {
      name: tool.name,
      group: tool.group,
      enabled,
      mode: enabled ? mode : "deny",
      why,
      ...(reason !== undefined ? { reason } : {}),
    };
  }
}

/**
 * The origin of a conversation: the channel and peer in its session key when it names them,
 * otherwise the message's source (`telegram:<user>`, `ws:<conn>`, `cli`).
 */
export function originOf(sessionKey: string, source?: string): Origin {
  const m = /^agent:[a-z0-9_-]+:([a-z0-9_.@+\-]+):(direct|group):([a-z0-9_.@+\-]+)/.exec(
    sessionKey,
  );
  if (m) return m[2] === "direct" ? { channel: m[1], sender: m[3] } : { channel: m[1] };
  if (!source) return {};
  const colon = source.indexOf(":");
  if (colon < 0) return { channel: source };
  const channel = source.slice(0, colon);
  // A WebSocket connection id says nothing about the person: only the channel counts.
  return channel === "ws" ? { channel } : { channel, sender: source.slice(colon + 1) };
}
