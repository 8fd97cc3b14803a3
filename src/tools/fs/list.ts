/** `list`: the entries of a workspace folder, or every path under it that matches a glob. */
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import type { Tool } from "../../kernel/mod.ts";
import type { FsToolDeps } from "./mod.ts";

/** Most entries one listing shows. */
export const MAX_LIST_ENTRIES = 1000;
/** Most entries a glob walk looks at before it gives up. */
const MAX_VISITED = 100_000;

const params = z.object({
  path: z.string().min(1).optional().describe(
    "folder to list, relative to the workspace; default the workspace",
  ),
  glob: z.string().min(1).max(500).optional().describe(
    'list recursively the paths matching this glob, matched from the workspace root, e.g. "src/**/*.ts"',
  ),
}).strict();

/**
 * A glob as an anchored RegExp over `/`-separated relative paths: `*` is any run of characters
 * but `/`, `?` one such character, `**` any run including `/` (`a/**\/b` also matches `a/b`).
 * Every other character is literal (no `{a,b}` or `[...]`).
 */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      i++;
      const whole = (i === 1 || glob[i - 2] === "/") &&
        (i + 1 === glob.length || glob[i + 1] === "/");
      if (whole && glob[i + 1] === "/") {
        re += "(?:.*/)?"; // `**/`: zero or more folders
        i++;
      } else {
        re += ".*";
      }
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Whether a folder at `rel` may hold a match, so the walk skips folders that cannot. */
function mayHoldMatches(segments: (RegExp | null)[], rel: string): boolean {
  const parts = rel.split("/");
  for (let i = 0; i < parts.length; i++) {
    const seg = segments[i];
    if (seg === undefined) return false; // deeper than the glob reaches
    if (seg === null) return true; // a `**` from here on matches anything
    if (!seg.test(parts[i])) return false;
  }
  return parts.length < segments.length;
}

/** Creates the tool over `deps.workspace`. */
export function listTool({ workspace }: FsToolDeps): Tool<typeof params> {
  return {
    name: "list",
    description: "Lists a workspace folder (default the workspace itself), or with glob every " +
      'path under it that matches (`*`, `?`, `**`; matched from the workspace root, e.g. "**/*.md"). ' +
      "Paths are relative to the workspace; folders end in /, symlinks show as `name -> (symlink)`.",
    params,
    group: "fs",
    async run({ path, glob }, ctx) {
      const real = await workspace.existing(path ?? ".");
      const info = await Deno.stat(real);
      if (!info.isDirectory) throw new Error(`${path} is a file: use read to see its content`);
      const lines: string[] = [];
      let more = false;
      const show = (rel: string, entry: Deno.DirEntry): boolean => {
        if (lines.length === MAX_LIST_ENTRIES) {
          more = true;
          return false;
        }
        lines.push(
          entry.isSymlink ? `${rel} -> (symlink)` : entry.isDirectory ? `${rel}/` : rel,
        );
        return true;
      };
      const entries = async (dir: string): Promise<Deno.DirEntry[]> => {
        const all: Deno.DirEntry[] = [];
        for await (const entry of Deno.readDir(dir)) all.push(entry);
        return all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      };
      const rel = (dir: string, name: string) => workspace.display(join(dir, name));

      if (glob === undefined) {
        for (const entry of await entries(real)) {
          if (!show(rel(real, entry.name), entry)) break;
        }
        if (lines.length === 0) return `${workspace.display(real)} is an empty folder`;
      } else {
        let pattern = glob.replace(/^(\.\/)+/, "");
        if (isAbsolute(pattern)) {
          if (!pattern.startsWith(`${workspace.root}/`)) {
            throw new Error(
              `glob "${glob}" is matched on paths relative to the workspace: drop the leading /`,
            );
          }
          pattern = pattern.slice(workspace.root.length + 1);
        }
        const re = globToRegExp(pattern);
        const segments = pattern.split("/").map((s) => (s.includes("**") ? null : globToRegExp(s)));
        let visited = 0;
        // Depth first with sorted names, so the output comes out sorted and can stop at the cap.
        // Symlinks are listed but never followed: their target may lie outside the workspace.
        const walk = async (dir: string): Promise<boolean> => {
          for (const entry of await entries(dir)) {
            ctx.signal.throwIfAborted();
            if (++visited > MAX_VISITED) {
              more = true;
              return false;
            }
            const relPath = rel(dir, entry.name);
            if (re.test(relPath) && !show(relPath, entry)) return false;
            if (entry.isDirectory && mayHoldMatches(segments, relPath)) {
              if (!(await walk(join(dir, entry.name)))) return false;
            }
          }
          return true;
        };
        await walk(real);
        if (lines.length === 0 && !more) {
          return `nothing under ${workspace.display(real)} matches "${glob}"`;
        }
      }
      if (more) {
        lines.push(
          `[… more entries not shown (the listing stops at ${MAX_LIST_ENTRIES} entries or ` +
            `${MAX_VISITED} looked at): list a subfolder or narrow the glob]`,
        );
      }
      return lines.join("\n");
    },
  };
}
