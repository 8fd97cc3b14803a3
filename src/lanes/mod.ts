/**
 * @module
 * Lanes: serial runs per session key under a global cap, queue modes, debounce, caps and the watchdog.
 */
export {
  type DropReason,
  type LaneItem,
  LaneScheduler,
  type LaneSchedulerOptions,
  type RunContext,
  type SubmitOutcome,
} from "./lane_scheduler.ts";
export { Semaphore } from "./semaphore.ts";
