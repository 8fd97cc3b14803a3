/** `[hooks]`: inbound webhooks (`POST /hooks/agent`, `POST /hooks/wake`), off by default. */
import { z } from "zod";

/** `[hooks]`. */
export const hooksConfig = z.object({
  /** Serve `POST /hooks/agent` and `POST /hooks/wake`. */
  enabled: z.boolean().default(false),
  /** Env var holding the hook token (sent as `Authorization: Bearer …`; not the gateway token). */
  token_env: z.string().regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    "must be an environment variable name like GATEHOUSE_HOOK_TOKEN (the secret itself never goes in the file)",
  ).default("GATEHOUSE_HOOK_TOKEN"),
  /** Largest request body, in KiB; bigger ones are refused with 413. */
  max_body_kb: z.number().int().min(1).max(1024).default(64),
});

/** `[hooks]` after defaults. */
export type HooksConfig = z.infer<typeof hooksConfig>;
