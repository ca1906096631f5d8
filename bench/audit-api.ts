import 'reflect-metadata';
import { MODULES } from '../src/app/modules';
import { startProcess } from '../src/app/processes';
import { auditModule } from '../src/audit/module';

/**
 * A bench-only `payouts api`: the service's API, or with `BENCH_AUDIT=off` the same API built
 * without the audit module, so `bench/audit.ts` can put a mutation with its audit entry beside the
 * same mutation without one, in the same run. Nothing in the service can turn the audit log off;
 * only this script, which is not part of the product, leaves the module out.
 */
async function main(): Promise<void> {
  const modules = process.env.BENCH_AUDIT === 'off' ? MODULES.filter((module) => module !== auditModule) : MODULES;
  const running = await startProcess({ api: true, worker: false, consumers: false, migrate: false }, process.env, modules);
  const stop = () => void running.stop().then(() => process.exit(0), () => process.exit(1));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
