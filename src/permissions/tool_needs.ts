/**
 * What the built-in tools need from Deno for a config: the workspace for the file tools and exec
 * (by name and by real path), the real paths of exec's programs and the env names it passes on,
 * the hosts web_fetch may reach. Only tools the policy can enable for some conversation count, so
 * a config that leaves a tool out grants it nothing.
 */
import { delimiter, isAbsolute } from "node:path";
import type { LoadedConfig } from "../config/mod.ts";
import { BUILTIN_TOOLS } from "../tools/catalog.ts";
import { execPathEnv, resolvePrograms } from "../tools/exec/programs.ts";
import { type Origin, ToolPolicy } from "../tools/policy.ts";
import { webFetchNeeds } from "../tools/web/needs.ts";
import { realPathOf } from "./real_path.ts";

/** Cloud metadata endpoints, denied to the runtime whenever web_fetch may reach any host. */
const METADATA_HOSTS = ["169.254.169.254", "metadata.google.internal"];

/** A tool's needs, in the shape of permissions/needs.ts (`net` value `*` is every host). */
export interface ToolNeed {
  kind: "net" | "read" | "write" | "env" | "run" | "deny-net";
  value: string;
  tool: string;
}

/** Tools the policy enables for the operator or for some override's channel and sender. */
export function reachableTools(loaded: LoadedConfig): Set<string> {
  const { tools } = loaded.config;
  const policy = new ToolPolicy(tools, [...BUILTIN_TOOLS]);
  const origins: Origin[] = [
    {},
    { channel: "ws" },
    ...tools.overrides.map((o) => ({ channel: o.channel, sender: o.sender })),
  ];
  const out = new Set<string>();
  for (const origin of origins) {
    for (const d of policy.all(origin)) if (d.enabled) out.add(d.name);
  }
  // exec without allowlisted programs can run nothing: it needs (and gets) nothing.
  if (tools.exec.programs.length === 0) out.delete("exec");
  return out;
}

/**
 * The needs of the tools a config can enable. `pathEnv` is the gateway's PATH; exec searches it
 * (when `tools.exec.env` passes PATH on), so its folders must be readable to find the allowlisted
 * programs, whose real paths are what `--allow-run` names: Deno checks the path a program is
 * started by, and exec starts the real one. Shells are left out unless `tools.exec.shell` is on.
 */
export function toolNeeds(loaded: LoadedConfig, pathEnv?: string): ToolNeed[] {
  const { tools } = loaded.config;
  const reachable = reachableTools(loaded);
  const out: ToolNeed[] = [];
  const add = (tool: string, kind: ToolNeed["kind"], value: string) => {
    if (
      reachable.has(tool) &&
      !out.some((n) => n.tool === tool && n.kind === kind && n.value === value)
    ) {
      out.push({ kind, value, tool });
    }
  };
  // The workspace by name (to create it and pin its real path) and by real path (what the tools
  // then touch), which differ when it, or the home it is in, is a symlink.
  const ws = loaded.workspacePath;
  const wsPaths = [ws, realPathOf(ws)];
  for (const path of wsPaths) {
    add("read", "read", path);
    add("list", "read", path);
    for (const tool of ["write", "edit"]) {
      add(tool, "read", path);
      add(tool, "write", path);
    }
    add("exec", "read", path);
  }
  if (reachable.has("exec")) {
    const search = execPathEnv(tools.exec.env, pathEnv);
    if (tools.exec.programs.some((p) => !isAbsolute(p))) {
      for (const dir of new Set(search.split(delimiter).filter((d) => isAbsolute(d)))) {
        add("exec", "read", dir);
      }
    }
    for (const program of tools.exec.programs) {
      if (isAbsolute(program)) add("exec", "read", program);
    }
    const { programs } = resolvePrograms(tools.exec.programs, {
      pathEnv: search,
      shell: tools.exec.shell,
    });
    for (const real of programs.keys()) add("exec", "run", real);
    for (const name of tools.exec.env) add("exec", "env", name);
  }
  const { hosts, private_hosts } = tools.web_fetch;
  const fetchNet = webFetchNeeds({ hosts, privateHosts: private_hosts }).net;
  if (fetchNet === "all") {
    // Any public host means a bare --allow-net; the SSRF guard refuses private addresses, and
    // the cloud metadata endpoints are denied at the runtime too.
    add("web_fetch", "net", "*");
    for (const host of METADATA_HOSTS) add("web_fetch", "deny-net", host);
  } else for (const host of fetchNet) add("web_fetch", "net", host);
  return out;
}
