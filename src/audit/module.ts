import { Counter } from 'prom-client';
import { z } from 'zod';
import { bookAtStart } from '../platform/jobs';
import { defineModule } from '../platform/modules';
import { auditEnsurePartitions } from './audit__ensure_partitions';
import { AuditLogResolver } from './audit.resolver';
import { AuditService, type AuditRecord } from './audit.service';
import type { MutationRecord } from '../platform/graphql/recorded-mutations';

/** A mutation's record as the audit log keeps it (the outcome apart). */
function auditRecordOf(record: Omit<MutationRecord, 'outcome'>): Omit<AuditRecord, 'outcome'> {
  return {
    subject: record.principal.subject,
    role: record.principal.role,
    operation: record.operation,
    arguments: record.arguments,
    targets: record.targets,
    requestId: record.request.requestId,
    clientAddress: record.request.clientAddress,
    userAgent: record.request.userAgent,
  };
}

export interface AuditServices {
  audit: AuditService;
}

/**
 * The permanent audit log: every GraphQL mutation of every module and every admin CLI action,
 * done or refused, one entry each, written in the transaction of its effect. Append-only in the
 * database, partitioned by month; read through `auditLog`.
 */
export const auditModule = defineModule({
  name: 'audit',
  tables: ['audit_entry'],
  settings: z.object({
    AUDIT_PARTITIONS_AHEAD: z.coerce.number().int().min(1).max(24).default(3),
  }),
  metrics: (registry) => ({
    entries: new Counter({
      name: 'payouts_audit_entries_total',
      help: 'Audit entries this process wrote, by outcome (OK or the error code)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  }),
  create: (): AuditServices => ({ audit: new AuditService() }),
  resolvers: [AuditLogResolver],
  recordsMutations: ({ services, metrics }) => ({
    record: (em, record) => services.audit.record(em, { ...auditRecordOf(record), outcome: record.outcome }),
    inStatement: (record) => services.audit.inStatement(auditRecordOf(record)),
    committed: (record) => metrics.entries.inc({ outcome: record.outcome }),
  }),
  tasks: ({ services, settings, kernel, logger }) => ({
    audit__ensure_partitions: auditEnsurePartitions(kernel.orm, services.audit, settings.AUDIT_PARTITIONS_AHEAD, logger),
  }),
  cron: () => [
    { pattern: '17 3 * * *', task: 'audit__ensure_partitions', comment: 'The audit log’s monthly partitions, made months ahead.' },
  ],
  startupJobs: () => [bookAtStart('audit__ensure_partitions')],
});
