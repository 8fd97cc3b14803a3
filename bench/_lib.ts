/**
 * The shared pieces of the benchmarks, one concept a file; scripts import them from here. Private
 * to `bench/`.
 */
export { flagsFor, freePort, ROOT } from "../tests/_helpers/gateway_process.ts";
export { GatewayClient } from "../src/cli/client.ts";
export { hardLimit, onHardStop } from "./_stop.ts";
export {
  assertAlive,
  benchConfig,
  type BenchConfigOptions,
  type BenchGateway,
  type BenchProvider,
  type FakeServer,
  launchOf,
  readyzOk,
  startFake,
  type StartFakeOptions,
  startGateway,
  type StartGatewayOptions,
} from "./_processes.ts";
export { Cdp, v8Heap } from "./_inspector.ts";
export {
  cpuRows,
  cpuSecondsOf,
  type CpuSnapshot,
  cpuSnapshot,
  mib,
  rssOf,
  threadCpuOf,
} from "./_readings.ts";
export {
  closedLoop,
  deal,
  type LoadResult,
  sessionKeys,
  TurnDriver,
  type TurnResult,
} from "./_load.ts";
export { emitJson, intFlag, median, percentile, printTable, round, sleep } from "./_stats.ts";
