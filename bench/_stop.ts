/**
 * Bounded runs: every script sets a hard time limit; on it (or on Ctrl-C) the children it started
 * are killed before the process exits, so nothing is left running.
 */
const cleanups = new Set<() => Promise<unknown> | unknown>();

/** Registers a cleanup run on a hard stop (time limit, SIGINT); returns its remover. */
export function onHardStop(fn: () => Promise<unknown> | unknown): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

async function hardStop(why: string, code: number): Promise<never> {
  console.error(`bench: ${why}; stopping`);
  for (const fn of [...cleanups].reverse()) {
    try {
      await fn();
    } catch {
      // best effort
    }
  }
  Deno.exit(code);
}

/** Kills the children and exits with code 2 once `seconds` have passed; returns the canceller. */
export function hardLimit(seconds: number): () => void {
  const timer = setTimeout(() => hardStop(`time limit of ${seconds} s reached`, 2), seconds * 1000);
  Deno.unrefTimer(timer);
  const onInt = () => hardStop("interrupted", 130);
  Deno.addSignalListener("SIGINT", onInt);
  return () => {
    clearTimeout(timer);
    Deno.removeSignalListener("SIGINT", onInt);
  };
}
