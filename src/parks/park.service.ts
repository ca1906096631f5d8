import type { EntityManager } from '@mikro-orm/postgresql';
import type { LedgerService } from '../ledger/ledger.service';
import { queryBound } from '../platform/bound-query';
import { textArray } from '../platform/sql-arrays';
import { parkPayoutAccount, toParkRow, type ParkRow, type ParkUpsert } from './park';

export interface UpsertOutcome {
  park: ParkRow;
  /** False when the row already held a later (or the same) version: nothing changed. */
  changed: boolean;
}

/** Parks: written by `fleet.parks` and admins, read by every fleet module through this service. */
export class ParkService {
  constructor(private readonly ledger: LedgerService) {}

  /**
   * Creates or replaces a park, unless the stored version is later than this one (an older
   * upsert arriving late changes nothing). Opens the park's payout account, so accruals and
   * balances find it from the first moment.
   */
  async upsert(em: EntityManager, input: ParkUpsert, actor: string | null): Promise<UpsertOutcome> {
    const [written] = await queryBound<ParkRow>(
      em,
      `INSERT INTO park AS p (id, name, currency, email, timezone, status, version_at, updated_by)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, currency = EXCLUDED.currency, email = EXCLUDED.email,
              timezone = EXCLUDED.timezone, status = EXCLUDED.status, version_at = EXCLUDED.version_at,
              updated_by = EXCLUDED.updated_by, updated_at = now()
        WHERE p.version_at < EXCLUDED.version_at
       RETURNING *`,
      [input.parkId, input.name, input.currency, input.email, input.timezone, input.status, input.occurredAt, actor],
    );
    if (written) {
      await this.ledger.accountId(em, parkPayoutAccount(input.parkId, input.currency));
      return { park: toParkRow(written), changed: true };
    }
    return { park: (await this.find(em, input.parkId))!, changed: false };
  }

  async find(em: EntityManager, id: string): Promise<ParkRow | null> {
    const [row] = await queryBound<ParkRow>(em, 'SELECT * FROM park WHERE id = ?', [id], { name: 'park_find' });
    return row ? toParkRow(row) : null;
  }

  async findMany(em: EntityManager, ids: readonly string[]): Promise<ParkRow[]> {
    if (ids.length === 0) return [];
    const rows = await queryBound<ParkRow>(em, 'SELECT * FROM park WHERE id = ANY (?::text[])', [textArray(ids)]);
    return rows.map(toParkRow);
  }

  /** Active parks after `afterId`, by id: the periodic run walks them in batches. */
  async activeAfter(em: EntityManager, afterId: string | null, limit: number): Promise<Pick<ParkRow, 'id' | 'currency'>[]> {
    const rows = await queryBound<{ id: string; currency: string }>(
      em,
      `SELECT id, currency FROM park WHERE status = 'ACTIVE' AND id > ? ORDER BY id LIMIT ?`,
      [afterId ?? '', limit],
      { name: 'park_active_after' },
    );
    return rows.map((row) => ({ id: row.id, currency: row.currency.trim() }));
  }
}
