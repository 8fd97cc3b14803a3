/**
 * Cron's `webhook` delivery: a run's result POSTed as JSON to the job's URL, through web_fetch's
 * SSRF guard (public addresses only unless `tools.web_fetch.private_hosts` lists the host), with a
 * timeout; redirects are not followed and any status but 2xx is a failed delivery.
 */
import { checkUrl, type Resolver, systemResolver, type UrlPolicy } from "../tools/web/guard.ts";

/** Where webhook deliveries may go and how long one may take. */
export interface WebhookDeliveryDeps {
  policy: UrlPolicy;
  /** @default systemResolver */
  resolve?: Resolver;
  /** @default 10_000 */
  timeoutMs?: number;
}

/** The JSON body of a delivery. */
export interface WebhookBody {
  jobId: string;
  runId: string;
  outcome: string;
  text: string;
  scheduledFor: number;
}

/** POSTs `body` to `url`; throws with the reason when the guard refuses or the receiver fails. */
export async function postWebhook(
  deps: WebhookDeliveryDeps,
  url: string,
  body: WebhookBody,
): Promise<void> {
  const timeoutMs = deps.timeoutMs ?? 10_000;
  // Only the origin is named in errors (kept in the run history and logged): webhook URLs often
  // carry a secret in their path or query.
  const shown = originOf(url);
  const signal = AbortSignal.timeout(timeoutMs);
  const check = await checkUrl(url, deps.policy, deps.resolve ?? systemResolver);
  if (!check.allow) throw new Error(`webhook ${shown} is refused: ${check.reason}`);
  let res: Response;
  try {
    res = await fetch(check.url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "gatehouse-cron" },
      body: JSON.stringify(body),
      redirect: "manual",
      signal,
    });
  } catch (err) {
    if (signal.aborted) {
      throw new Error(`webhook ${shown} did not answer within ${timeoutMs / 1000} s`);
    }
    const why = (err instanceof Error ? err.message : String(err))
      .replaceAll(check.url.href, shown).replaceAll(url, shown);
    throw new Error(`webhook ${shown} failed: ${why}`);
  }
  await res.body?.cancel();
  if (res.status < 200 || res.status > 299) {
    // A redirect is not followed: the new URL would need its own guard check, and POSTs do not move.
    throw new Error(`webhook ${shown} answered ${res.status}; a 2xx status is needed`);
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(invalid URL)";
  }
}
