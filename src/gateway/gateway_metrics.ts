/**
 * What `GET /metrics` reports for a gateway. Turn outcomes are counted from the run lifecycle
 * events on the hub; the other counters are kept by the parts that see them (the failover chain,
 * the lanes, the delivery worker, the reloader) and read at scrape time, as are the gauges.
 */
import { type AgentEvent, type Clock, Tally } from "../kernel/mod.ts";
import type { EventHub } from "./event_hub.ts";
import { type MetricFamily, renderMetrics, type Sample, tallySamples } from "./metrics.ts";

/** Where the figures come from. */
export interface GatewayMetricsDeps {
  hub: EventHub;
  clock: Clock;
  startedAt: number;
  version: string;
  lanes: {
    stats(): { lanes: number; running: number; waitingForSlot: number; queued: number };
    drops: Tally<"reason">;
  };
  providerAttempts: Tally<"model" | "result">;
  deliveries: Tally<"channel" | "result">;
  approvalsPending: () => number;
  connections: () => number;
  reloads: Tally<"result">;
  restartNeeded: () => string[];
}

/** The gateway's metrics; `close` stops counting turns. */
export interface GatewayMetrics {
  render(): string;
  close(): void;
}

/** How a run ended, from its closing lifecycle event. */
function outcomeOf(event: AgentEvent): string | undefined {
  if (event.stream !== "lifecycle") return undefined;
  if (event.data.phase === "end") return "ok";
  if (event.data.phase !== "error") return undefined;
  const code = (event.data.error as { code?: string } | undefined)?.code;
  return code === "ABORTED" ? "aborted" : code === "TIMEOUT" ? "timeout" : "error";
}

/** Starts counting turns and returns the renderer. */
export function gatewayMetrics(deps: GatewayMetricsDeps): GatewayMetrics {
  const turns = new Tally(["outcome"] as const);
  for (const outcome of ["ok", "error", "aborted", "timeout"]) turns.add({ outcome }, 0);
  const unlisten = deps.hub.listen((event, payload) => {
    if (event !== "agent") return;
    const outcome = outcomeOf(payload as AgentEvent);
    if (outcome) turns.add({ outcome });
  });
  const one = (value: number): Sample[] => [{ value }];
  const families: MetricFamily[] = [
    {
      name: "gatehouse_build_info",
      help: "The running version; always 1.",
      type: "gauge",
      samples: () => [{ labels: { version: deps.version }, value: 1 }],
    },
    {
      name: "gatehouse_uptime_seconds",
      help: "Seconds since the gateway started.",
      type: "gauge",
      samples: () => one(Math.round((deps.clock.now() - deps.startedAt) / 1000)),
    },
    {
      name: "gatehouse_process_resident_memory_bytes",
      help: "Resident memory of the process (RSS).",
      type: "gauge",
      samples: () => one(Deno.memoryUsage().rss),
    },
    {
      name: "gatehouse_turns_total",
      help: "Agent turns by outcome: ok, error, aborted (stopped), timeout.",
      type: "counter",
      samples: () => tallySamples(turns),
    },
    {
      name: "gatehouse_provider_attempts_total",
      help: "Model calls by model and result: ok or the failure class (rate_limit, timeout, ...).",
      type: "counter",
      samples: () => tallySamples(deps.providerAttempts),
    },
    {
      name: "gatehouse_lane_depth",
      help: "Messages waiting on session lanes, all sessions together.",
      type: "gauge",
      samples: () => one(deps.lanes.stats().queued),
    },
    {
      name: "gatehouse_lanes_running",
      help: "Turns running now.",
      type: "gauge",
      samples: () => one(deps.lanes.stats().running),
    },
    {
      name: "gatehouse_lanes_waiting_for_slot",
      help: "Sessions waiting for a turn slot (agent.max_concurrent).",
      type: "gauge",
      samples: () => one(deps.lanes.stats().waitingForSlot),
    },
    {
      name: "gatehouse_queue_drops_total",
      help: "Messages dropped from a lane before they ran: queue_full or aborted.",
      type: "counter",
      samples: () => tallySamples(deps.lanes.drops),
    },
    {
      name: "gatehouse_approvals_pending",
      help: "Tool calls waiting for an operator's approval.",
      type: "gauge",
      samples: () => one(deps.approvalsPending()),
    },
    {
      name: "gatehouse_channel_deliveries_total",
      help: "Outbox messages by channel (telegram, ...) and result: sent, retry, dropped.",
      type: "counter",
      samples: () => tallySamples(deps.deliveries),
    },
    {
      name: "gatehouse_ws_connections",
      help: "WebSocket clients connected now.",
      type: "gauge",
      samples: () => one(deps.connections()),
    },
    {
      name: "gatehouse_config_reloads_total",
      help: "Config reloads by result: applied, unchanged, rejected.",
      type: "counter",
      samples: () => tallySamples(deps.reloads),
    },
    {
      name: "gatehouse_config_restart_pending",
      help: "1 for each config key whose new value only a restart applies.",
      type: "gauge",
      samples: () => deps.restartNeeded().map((key) => ({ labels: { key }, value: 1 })),
    },
  ];
  return {
    render: () => renderMetrics(families),
    close: unlisten,
  };
}
