/**
 * Asking for a remote gateway's token on the terminal, without echo. Deno has no getpass: the
 * terminal is put in raw mode (`Deno.stdin.setRaw`) and bytes are read until Enter, so nothing
 * typed is shown and the token never reaches a command line or a URL.
 */
import { ClientError } from "./client_error.ts";

/** The three ways to give a remote gateway's token, for messages. */
export const TOKEN_WAYS =
  "pass --token-file FILE, set GATEHOUSE_TOKEN, or run in a terminal to be asked for it " +
  "(on the gateway host, `gatehouse token` prints it)";

const CTRL_C = 0x03;
const CTRL_D = 0x04;
const BACKSPACE = 0x08;
const DELETE = 0x7f;

/**
 * Reads a token typed on the terminal for `target` (a URL or a description of the gateway).
 * Throws a ClientError naming the three ways to give the token when stdin is not a terminal, and
 * when the user cancels (Ctrl-C, or Ctrl-D on an empty line) or enters nothing.
 */
export async function promptToken(target: string): Promise<string> {
  if (!Deno.stdin.isTerminal()) {
    throw new ClientError("AUTH_REQUIRED", `no token for ${target}: ${TOKEN_WAYS}`);
  }
  const encoder = new TextEncoder();
  // Raw mode first, then the prompt: a key typed in between must not be echoed.
  Deno.stdin.setRaw(true);
  const typed: number[] = [];
  let cancelled = false;
  try {
    Deno.stderr.writeSync(encoder.encode(`gateway token for ${target} (not shown): `));
    const buf = new Uint8Array(256);
    read: while (true) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      for (const byte of buf.subarray(0, n)) {
        // Anything after Enter in the same read (a pasted line with more after it) is dropped.
        if (byte === 0x0d || byte === 0x0a) break read;
        if (byte === CTRL_C || (byte === CTRL_D && typed.length === 0)) {
          cancelled = true;
          break read;
        }
        if (byte === BACKSPACE || byte === DELETE) typed.pop();
        else if (byte >= 0x20) typed.push(byte);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
  const token = new TextDecoder().decode(new Uint8Array(typed)).trim();
  if (cancelled || !token) {
    throw new ClientError("AUTH_REQUIRED", `no token entered for ${target}: ${TOKEN_WAYS}`);
  }
  return token;
}
