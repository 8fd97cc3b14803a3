/**
 * @module
 * File tools confined to the workspace: `read`, `write`, `edit` and `list`. Every path is resolved
 * to its real path by the {@linkcode Workspace} before anything is touched.
 */
import type { Tool } from "../../kernel/mod.ts";
import type { Workspace } from "../workspace.ts";
import { editTool } from "./edit.ts";
import { listTool } from "./list.ts";
import { readTool } from "./read.ts";
import { writeTool } from "./write.ts";

/** What the file tools work on. */
export interface FsToolDeps {
  workspace: Workspace;
  /** Largest file `read` shows whole, and largest content `write` and `edit` produce. */
  maxFileBytes: number;
}

/** The file tools, in the order read, write, edit, list. */
export function fsTools(deps: FsToolDeps): Tool[] {
  return [readTool(deps), writeTool(deps), editTool(deps), listTool(deps)];
}

export { editTool, listTool, readTool, writeTool };
export { globToRegExp } from "./list.ts";
