import type { EntityManager } from '@mikro-orm/postgresql';
import { queryBound } from '../platform/bound-query';
import { plainArray, textArray } from '../platform/sql-arrays';
import type { FleetPayoutSettings } from './settings';

/** The rules instant and periodic payouts follow now: the database's values over the environment's. */
export interface PayoutRules {
  /** Minor units per currency; a currency without one cannot be paid instantly (its limit is 0). */
  instantLimits: Map<string, bigint>;
  instantCooldownHours: number;
  periodicDays: number;
  updatedAt: Date | null;
  updatedBy: string | null;
}

export interface PayoutRulesChange {
  instantLimits?: { currency: string; minor: bigint }[];
  instantCooldownHours?: number;
  periodicDays?: number;
}

/**
 * The global fleet payout settings. Stored as overrides of the environment's defaults (a NULL is
 * "the default"), read inside the transaction that uses them: an admin's change applies to the
 * very next button press on every API process.
 */
export class PayoutRulesStore {
  constructor(private readonly defaults: FleetPayoutSettings) {}

  async current(em: EntityManager): Promise<PayoutRules> {
    const [row] = await queryBound<{
      instant_cooldown_hours: number | null;
      periodic_days: number | null;
      updated_at: string | null;
      updated_by: string | null;
      limits: { currency: string; limit_minor: string }[] | null;
    }>(
      em,
      `SELECT s.instant_cooldown_hours, s.periodic_days, greatest(s.updated_at, l.updated_at) AS updated_at,
              coalesce(s.updated_by, l.updated_by) AS updated_by, l.limits
         FROM (SELECT 1) one
         LEFT JOIN fleet_payout_settings s ON true
         LEFT JOIN LATERAL (SELECT json_agg(json_build_object('currency', currency, 'limit_minor', limit_minor::text)) AS limits,
                                   max(updated_at) AS updated_at, (array_agg(updated_by ORDER BY updated_at DESC))[1] AS updated_by
                              FROM fleet_instant_limit) l ON true`,
      [],
      { name: 'fleet_rules_current' },
    );
    return this.resolve(row!);
  }

  /** Applies an admin's change; fields left out keep their value. Returns the rules after it. */
  async update(em: EntityManager, change: PayoutRulesChange, actor: string): Promise<PayoutRules> {
    if (change.instantCooldownHours !== undefined || change.periodicDays !== undefined) {
      await em.execute(
        `INSERT INTO fleet_payout_settings AS s (instant_cooldown_hours, periodic_days, updated_by)
         VALUES (?, ?, ?)
         ON CONFLICT (singleton) DO UPDATE
            SET instant_cooldown_hours = coalesce(EXCLUDED.instant_cooldown_hours, s.instant_cooldown_hours),
                periodic_days = coalesce(EXCLUDED.periodic_days, s.periodic_days),
                updated_by = EXCLUDED.updated_by, updated_at = now()`,
        [change.instantCooldownHours ?? null, change.periodicDays ?? null, actor],
      );
    }
    if (change.instantLimits?.length) {
      await queryBound(
        em,
        `INSERT INTO fleet_instant_limit (currency, limit_minor, updated_by)
         SELECT currency, limit_minor, ? FROM unnest(?::text[], ?::bigint[]) AS i(currency, limit_minor)
         ON CONFLICT (currency) DO UPDATE SET limit_minor = EXCLUDED.limit_minor, updated_by = EXCLUDED.updated_by, updated_at = now()`,
        [
          actor,
          textArray(change.instantLimits.map((limit) => limit.currency)),
          plainArray(change.instantLimits.map((limit) => limit.minor)),
        ],
      );
    }
    return this.current(em);
  }

  /** The environment's defaults, for SQL that reads the stored rules itself (the instant press). */
  environmentDefaults(): { cooldownHours: number; limits: ReadonlyMap<string, bigint> } {
    return { cooldownHours: this.defaults.FLEET_INSTANT_COOLDOWN, limits: this.defaults.FLEET_INSTANT_LIMIT };
  }

  private resolve(row: {
    instant_cooldown_hours: number | null;
    periodic_days: number | null;
    updated_at: string | null;
    updated_by: string | null;
    limits: { currency: string; limit_minor: string }[] | null;
  }): PayoutRules {
    const instantLimits = new Map(this.defaults.FLEET_INSTANT_LIMIT);
    for (const limit of row.limits ?? []) instantLimits.set(limit.currency.trim(), BigInt(limit.limit_minor));
    return {
      instantLimits,
      instantCooldownHours: row.instant_cooldown_hours ?? this.defaults.FLEET_INSTANT_COOLDOWN,
      periodicDays: row.periodic_days ?? this.defaults.FLEET_PERIODIC_DAYS,
      updatedAt: row.updated_at ? new Date(row.updated_at) : null,
      updatedBy: row.updated_by,
    };
  }
}
