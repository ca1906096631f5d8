import type { EntityManager } from '@mikro-orm/postgresql';
import { queryBound } from '../platform/bound-query';
import { NotFoundError } from '../platform/errors';
import { textArray } from '../platform/sql-arrays';

/** A park's instant-payout state: its override and its last instant payout. */
export interface ParkPayoutState {
  parkId: string;
  instantEnabled: boolean;
  lastInstantAt: Date | null;
  overrideReason: string | null;
}

/** The per-park rows of instant payouts: read for the park page, the override set by admins. */
export class ParkPayoutStates {
  /** States of these parks; a park never configured nor paid instantly gets the default. */
  async of(em: EntityManager, parkIds: readonly string[]): Promise<ParkPayoutState[]> {
    const rows = await queryBound<{ park_id: string; instant_enabled: boolean; last_instant_at: string | null; override_reason: string | null }>(
      em,
      'SELECT park_id, instant_enabled, last_instant_at, override_reason FROM fleet_park_payouts WHERE park_id = ANY (?::text[])',
      [textArray(parkIds)],
    );
    const found = new Map(rows.map((row) => [row.park_id, row]));
    return parkIds.map((parkId) => {
      const row = found.get(parkId);
      return {
        parkId,
        instantEnabled: row?.instant_enabled ?? true,
        lastInstantAt: row?.last_instant_at ? new Date(row.last_instant_at) : null,
        overrideReason: row?.override_reason ?? null,
      };
    });
  }

  /** Switches instant payouts off or on for one park (a park that does not exist is NOT_FOUND). */
  async setInstantEnabled(em: EntityManager, input: { parkId: string; enabled: boolean; reason: string; actor: string }): Promise<void> {
    const [row] = await queryBound<{ park_id: string }>(
      em,
      `INSERT INTO fleet_park_payouts AS s (park_id, instant_enabled, override_reason, updated_by)
       SELECT ?, ?, ?, ? WHERE (park_payable(?)).status IS NOT NULL
       ON CONFLICT (park_id) DO UPDATE SET instant_enabled = EXCLUDED.instant_enabled, override_reason = EXCLUDED.override_reason,
              updated_by = EXCLUDED.updated_by, updated_at = now()
       RETURNING park_id`,
      [input.parkId, input.enabled, input.reason, input.actor, input.parkId],
    );
    if (!row) throw new NotFoundError(`Park ${input.parkId} not found`, { parkId: input.parkId });
  }

  /** Parks with an instant payout since `since` (the metric of parks using the service). */
  async countInstantUsers(em: EntityManager, since: Date): Promise<number> {
    const [row] = await queryBound<{ count: string }>(
      em,
      'SELECT count(*)::text AS count FROM fleet_park_payouts WHERE last_instant_at >= ?',
      [since],
    );
    return Number(row!.count);
  }
}
