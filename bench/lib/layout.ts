/**
 * Which CPUs the bench gives to whom. The proxy under test always runs alone on CPU 0; the
 * load (wrk, nginx, the fixed-rate generator) gets the CPUs no proxy uses. `--workers 2` runs
 * on CPUs 0 and 1: on a 2-CPU machine its second worker shares CPU 1 with the load, so it can
 * show the cost of a second process but not a gain; with 3 or more CPUs, CPU 1 is the second
 * worker's alone and the load moves to CPU 2 and up, so the scaling shows.
 */
export interface CpuLayout {
  /** One-process proxies (taskset list). */
  proxy: string;
  /** A two-process proxy (`--workers 2`). */
  workers2: string;
  /** wrk, nginx and the fixed-rate generator. */
  load: string;
  /** Every CPU the bench uses, with what runs there (the stall probe reports each). */
  roles: { cpu: string; role: string }[];
  /** The layout in words, for the table's heading. */
  describe: string;
}

export function cpuLayout(cpuCount: number): CpuLayout {
  if (!Number.isInteger(cpuCount) || cpuCount < 2) {
    throw new Error(`bench: needs 2 CPUs (proxy on one, load generator + upstream on the other); found ${cpuCount}`);
  }
  if (cpuCount === 2) {
    return {
      proxy: '0',
      workers2: '0,1',
      load: '1',
      roles: [{ cpu: '0', role: 'proxy' }, { cpu: '1', role: 'load' }],
      describe: 'proxy on CPU 0, wrk/nginx/load generator on CPU 1 (`--workers 2` on CPUs 0-1, its second worker sharing CPU 1 with the load)',
    };
  }
  const last = cpuCount - 1;
  const load = last === 2 ? '2' : `2-${last}`;
  const roles = [{ cpu: '0', role: 'proxy' }, { cpu: '1', role: 'second worker' }];
  for (let c = 2; c <= last; c++) roles.push({ cpu: String(c), role: 'load' });
  return {
    proxy: '0',
    workers2: '0,1',
    load,
    roles,
    describe: `proxy on CPU 0 (\`--workers 2\` on CPUs 0-1), wrk/nginx/load generator on CPU${last === 2 ? ' 2' : `s ${load}`}`,
  };
}
