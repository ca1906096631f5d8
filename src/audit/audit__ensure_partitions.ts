import type { MikroORM } from '@mikro-orm/postgresql';
import type { Task } from 'graphile-worker';
import type { Logger } from '../platform/logger';
import type { AuditService } from './audit.service';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      /** Makes the audit log's coming monthly partitions: no payload. */
      audit__ensure_partitions: Record<string, never>;
    }
  }
}

/** Daily, and when a worker starts: the coming months' partitions exist long before their first entry. */
export function auditEnsurePartitions(orm: MikroORM, audit: AuditService, monthsAhead: number, logger: Logger): Task<'audit__ensure_partitions'> {
  return async () => {
    const made = await orm.em.fork().transactional((em) => audit.ensurePartitions(em, monthsAhead));
    if (made.length > 0) logger.info({ made }, 'audit log partitions made');
  };
}
