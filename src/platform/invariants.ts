import type { EntityManager } from '@mikro-orm/postgresql';
import type { Invariant, Violation } from './modules';

/** Runs the invariants one after the other; an empty list means the books hold. */
export async function findViolations(em: EntityManager, invariants: readonly Invariant[]): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const invariant of invariants) {
    for (const row of await invariant.violations(em)) violations.push({ rule: invariant.rule, detail: JSON.stringify(row) });
  }
  return violations;
}
