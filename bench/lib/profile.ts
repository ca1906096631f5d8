import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'node:inspector';

/**
 * A CPU (or allocation) profile of this process over one measured window, when `BENCH_PROFILE_DIR` names a folder
 * (open the `.cpuprofile` in Chrome's DevTools). `--cpu-prof` would profile the whole bench, setup
 * and baselines included; this keeps only the part being measured. Returns the function that stops it.
 */
export async function profileWindow(name: string): Promise<() => Promise<void>> {
  const dir = process.env.BENCH_PROFILE_DIR;
  if (!dir) return async () => undefined;
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<any>((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
  // BENCH_PROFILE=heap samples where memory is allocated instead (a `.heapprofile`).
  const heap = process.env.BENCH_PROFILE === 'heap';
  await post(heap ? 'HeapProfiler.enable' : 'Profiler.enable');
  await post(heap ? 'HeapProfiler.startSampling' : 'Profiler.start', heap ? { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } : undefined);
  return async () => {
    const { profile } = await post(heap ? 'HeapProfiler.stopSampling' : 'Profiler.stop');
    session.disconnect();
    const file = join(dir, `${name}-${Date.now()}.${heap ? 'heapprofile' : 'cpuprofile'}`);
    writeFileSync(file, JSON.stringify(profile));
    console.error(`   ${heap ? 'Allocation' : 'CPU'} profile of ${name}: ${file}`);
  };
}
