/** Memory and CPU readings of a process from /proc (Linux). */
import { round } from "./_stats.ts";

const MIB = 1024 * 1024;

/** A process's resident set size and its peak, in bytes, from /proc/<pid>/status. */
export async function rssOf(pid: number): Promise<{ rss: number; peak: number }> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = (name: string) => Number(text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))?.[1]);
  return { rss: kb("VmRSS") * 1024, peak: kb("VmHWM") * 1024 };
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start at ") ".
  const fields = text.slice(text.lastIndexOf(") ") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** CPU seconds by thread name (digits folded to `#`) of a process, from /proc/<pid>/task. */
export async function threadCpuOf(pid: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
    try {
      const base = `/proc/${pid}/task/${task.name}`;
      const comm = (await Deno.readTextFile(`${base}/comm`)).trim();
      const stat = await Deno.readTextFile(`${base}/stat`);
      const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
      // The first thread is the JS main thread; later "deno" threads are helpers.
      const name = task.name === String(pid) ? "main (JS)" : comm.replace(/\d+$/, "#");
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** CPU readings of the three processes of a load test, to diff over a window. */
export interface CpuSnapshot {
  at: number;
  gateway: number;
  fake: number;
  client: number;
  threads: Map<string, number>;
}

/** Reads the CPU seconds of the gateway (and its threads), the fake and this process. */
export async function cpuSnapshot(gatewayPid: number, fakePid: number): Promise<CpuSnapshot> {
  return {
    at: performance.now(),
    gateway: await cpuSecondsOf(gatewayPid),
    fake: await cpuSecondsOf(fakePid),
    client: await cpuSecondsOf(Deno.pid),
    threads: await threadCpuOf(gatewayPid),
  };
}

/**
 * Rows `[name, CPU s, % of one core, ms CPU per turn]` for the window between two snapshots;
 * gateway threads under 1 % are left out.
 */
export function cpuRows(a: CpuSnapshot, b: CpuSnapshot, turns: number): (string | number)[][] {
  const wall = (b.at - a.at) / 1000;
  const row = (name: string, s: number) => [
    name,
    round(s, 2),
    `${round((100 * s) / wall, 1)}%`,
    round((1000 * s) / Math.max(1, turns), 2),
  ];
  const threads = [...b.threads]
    .map(([t, s]) => [t, s - (a.threads.get(t) ?? 0)] as const)
    .filter(([, s]) => s / wall > 0.01)
    .sort((x, y) => y[1] - x[1]);
  return [
    row("gateway, all threads", b.gateway - a.gateway),
    ...threads.map(([t, s]) => row(`  gateway thread ${t}`, s)),
    row("fake provider", b.fake - a.fake),
    row("bench client", b.client - a.client),
  ];
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): number {
  return Math.round((bytes / MIB) * 10) / 10;
}
