import type { EntityManager } from '@mikro-orm/postgresql';
import type { LedgerService } from '../ledger/ledger.service';
import { queryBound } from '../platform/bound-query';
import { NotFoundError } from '../platform/errors';
import { textArray } from '../platform/sql-arrays';
import { driverBalanceAccount, normalizePhone, toDriverRow, type DriverRow, type DriverUpsert, type DriverStatus } from './driver';

export interface DriverUpsertOutcome {
  driver: DriverRow;
  /** False when the stored version was later (or the same): nothing changed. */
  changed: boolean;
}

/** Drivers of parks: written by `fleet.drivers`, read by wallets and top-ups through this service. */
export class DriverService {
  constructor(private readonly ledger: LedgerService) {}

  /**
   * Creates or replaces a driver unless the stored version is later. A driver of a park we do not
   * know is NOT_FOUND (the consumer makes it a dead letter, retried once the park arrives). Opens
   * the driver's balance account in the park's currency.
   */
  async upsert(em: EntityManager, input: DriverUpsert): Promise<DriverUpsertOutcome> {
    const [park] = await queryBound<{ currency: string }>(em, 'SELECT currency FROM park WHERE id = ? FOR KEY SHARE', [input.parkId]);
    if (!park) throw new NotFoundError(`Unknown park ${input.parkId}`, { parkId: input.parkId });
    const [written] = await queryBound<DriverRow>(
      em,
      `INSERT INTO driver AS d (park_id, id, name, phone, status, version_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (park_id, id) DO UPDATE SET name = EXCLUDED.name, phone = EXCLUDED.phone, status = EXCLUDED.status,
              version_at = EXCLUDED.version_at, updated_at = now()
        WHERE d.version_at < EXCLUDED.version_at
       RETURNING *`,
      [input.parkId, input.driverId, input.name, input.phone, input.status, input.occurredAt],
    );
    if (written) {
      await this.ledger.accountId(em, driverBalanceAccount(input.parkId, input.driverId, park.currency.trim()));
      return { driver: toDriverRow(written), changed: true };
    }
    return { driver: (await this.find(em, input.parkId, input.driverId))!, changed: false };
  }

  async find(em: EntityManager, parkId: string, driverId: string): Promise<DriverRow | null> {
    const [row] = await queryBound<DriverRow>(em, 'SELECT * FROM driver WHERE park_id = ? AND id = ?', [parkId, driverId], { name: 'driver_find' });
    return row ? toDriverRow(row) : null;
  }

  /** The drivers named, those that exist, in no particular order. One query. */
  async findMany(em: EntityManager, keys: readonly { parkId: string; driverId: string }[]): Promise<DriverRow[]> {
    if (keys.length === 0) return [];
    const rows = await queryBound<DriverRow>(
      em,
      `SELECT d.* FROM unnest(?::text[], ?::text[]) AS k(park_id, id) JOIN driver d ON d.park_id = k.park_id AND d.id = k.id`,
      [textArray(keys.map((key) => key.parkId)), textArray(keys.map((key) => key.driverId))],
    );
    return rows.map(toDriverRow);
  }

  /**
   * The driver a payer names in a park: its driverId, or else its phone (digits with the country
   * code; a leading + and separators are ignored). One indexed look-up each.
   */
  async findByAccount(em: EntityManager, parkId: string, account: string): Promise<DriverRow | null> {
    const byId = await this.find(em, parkId, account);
    if (byId) return byId;
    const phone = normalizePhone(account);
    if (!phone) return null;
    const [row] = await queryBound<DriverRow>(
      em,
      'SELECT * FROM driver WHERE park_id = ? AND phone = ? ORDER BY (status = ?) DESC, updated_at DESC LIMIT 1',
      [parkId, phone, 'WORKING'],
      { name: 'driver_by_phone' },
    );
    return row ? toDriverRow(row) : null;
  }

  /**
   * `findByAccount` and the park's status in one round trip (the top-up hot path): the driver by
   * id, else by phone, preferring a working one.
   */
  async findPayable(em: EntityManager, parkId: string, account: string): Promise<{ driver: DriverRow; parkStatus: string } | null> {
    const [row] = await queryBound<DriverRow & { park_status: string }>(
      em,
      `SELECT found.* FROM (SELECT ?::text AS park_id, ?::text AS account, ?::text AS phone) i
         CROSS JOIN LATERAL (${this.payableSql('i.park_id', 'i.account', 'i.phone')}) found`,
      [parkId, account, this.phoneOf(account)],
      { name: 'driver_payable' },
    );
    if (!row) return null;
    const { park_status: parkStatus, ...driver } = row;
    return { driver: toDriverRow(driver), parkStatus };
  }

  /**
   * `findPayable`'s query over three SQL expressions, for a caller that builds its own statement on
   * it (the top-ups' accept, many accounts at once; the SQL stays this module's): the park, the
   * account as given, and `phoneOf(account)` ('' for none). The id and the phone are two index
   * look-ups: as one `id = … OR phone = …`, a prepared statement's generic plan could read every
   * driver of the park (with no statistics yet, or with ones from when parks were small).
   */
  payableSql(park: string, account: string, phone: string): string {
    return `SELECT d.*, p.status AS park_status
              FROM park p,
                   (SELECT * FROM driver WHERE park_id = ${park} AND id = ${account}
                    UNION ALL
                    SELECT * FROM driver WHERE park_id = ${park} AND phone = ${phone} AND ${phone} <> '') d
             WHERE p.id = ${park}
             ORDER BY (d.id = ${account}) DESC, (d.status = 'WORKING') DESC, d.updated_at DESC LIMIT 1`;
  }

  /** An account read as a phone number (digits with the country code), or '' when it is none. */
  phoneOf(account: string): string {
    return normalizePhone(account) ?? '';
  }

  /** A park's drivers by id, after `afterId`, optionally of one status. */
  async page(
    em: EntityManager,
    parkId: string,
    options: { status?: DriverStatus | null; afterId?: string | null; limit: number },
  ): Promise<DriverRow[]> {
    const rows = await queryBound<DriverRow>(
      em,
      `SELECT * FROM driver WHERE park_id = ? AND (?::text IS NULL OR status = ?) AND id > ? ORDER BY id LIMIT ?`,
      [parkId, options.status ?? null, options.status ?? null, options.afterId ?? '', options.limit],
    );
    return rows.map(toDriverRow);
  }

  async count(em: EntityManager, parkId: string, status?: DriverStatus | null): Promise<number> {
    const [row] = await queryBound<{ n: string }>(em, 'SELECT count(*) AS n FROM driver WHERE park_id = ? AND (?::text IS NULL OR status = ?)', [
      parkId,
      status ?? null,
      status ?? null,
    ]);
    return Number(row!.n);
  }
}
