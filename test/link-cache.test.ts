import 'reflect-metadata';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walletsModule } from '../src/wallets/module';
import type { PaymentSystem } from '../src/wallets/payment-systems';
import { startCallbackTestbed, type CallbackTestbed, type TestPark } from './helpers/callbacks';
import { waitFor } from './helpers/kafka';
import { statementsDuring } from './helpers/statements';

/**
 * The links a callbacks process keeps: looked up once, then answered without a statement, and
 * dropped when another process changes a link or a wallet (a trigger's NOTIFY), or kept not at all
 * while that news cannot reach the process.
 */
describe('callback links kept by the process serving callbacks', () => {
  let bed: CallbackTestbed;
  let park: TestPark;
  /** Another process's connection: its changes reach the callbacks process only through PostgreSQL. */
  let other: Client;
  const links = () => bed.server.app.use(walletsModule).links;
  const em = () => bed.server.app.orm.em.fork();
  const secretOf = (link: string) => new URL(link).pathname.split('/').at(-1)!;
  /**
   * A resolve answered from what was kept, and the statements it ran (none). The set-up's own
   * changes (a link issued revokes the wallet's previous one) NOTIFY too, and one that arrives
   * after the first look-up drops what it kept: the next look-up keeps it again.
   */
  const lookedUpOnce = (system: PaymentSystem, secret: string) =>
    waitFor(
      () => statementsDuring(bed.server.app.orm, () => links().resolve(em(), system, secret)),
      (resolved) => resolved.statements.length === 0,
      2_000,
    );

  beforeAll(async () => {
    bed = await startCallbackTestbed();
    park = await bed.park();
    other = new Client({ connectionString: bed.server.env.DATABASE_URL });
    await other.connect();
  });
  afterAll(async () => {
    await other?.end();
    await bed?.close();
  });

  // Waits shorter than CALLBACK_LINK_CACHE_TTL (5 s): what drops the link is the NOTIFY, not its age.
  it('answers a link looked up lately without a statement, and drops it when another process revokes it', async () => {
    const wallet = await park.wallet('QIWI');
    const secret = secretOf(wallet.link);
    expect(links().resolved.active).toBe(true);
    expect((await links().resolve(em(), 'QIWI', secret))?.wallet.id).toBe(wallet.id);
    const kept = await lookedUpOnce('QIWI', secret);
    expect(kept.result?.link.id).toBe(wallet.linkId);
    expect(kept.statements).toEqual([]);

    await other.query('UPDATE callback_link SET revoked_at = now() WHERE id = $1', [wallet.linkId]);
    expect(await waitFor(() => links().resolve(em(), 'QIWI', secret), (found) => found === null, 2_000)).toBeNull();
  });

  it('drops a kept link when another process switches its wallet off', async () => {
    const wallet = await park.wallet('QIWI_MD');
    const secret = secretOf(wallet.link);
    expect((await links().resolve(em(), 'QIWI_MD', secret))?.wallet.enabled).toBe(true);
    await other.query('UPDATE wallet SET enabled = false WHERE id = $1', [wallet.id]);
    const after = await waitFor(() => links().resolve(em(), 'QIWI_MD', secret), (found) => found?.wallet.enabled === false, 2_000);
    expect(after?.wallet.enabled).toBe(false);
  });

  it('keeps nothing while its LISTEN connection is lost, so a revocation made meanwhile is seen at once; keeps again once back', async () => {
    const wallet = await park.wallet('ELECSNET');
    const secret = secretOf(wallet.link);
    expect(await links().resolve(em(), 'ELECSNET', secret)).not.toBeNull();
    await other.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'payouts link-cache' AND datname = current_database()`);
    expect(await waitFor(async () => links().resolved.active, (active) => !active, 5_000)).toBe(false);

    // No NOTIFY can reach the process now: the revocation is seen because nothing is kept.
    await other.query('UPDATE callback_link SET revoked_at = now() WHERE id = $1', [wallet.linkId]);
    expect(await links().resolve(em(), 'ELECSNET', secret)).toBeNull();

    expect(await waitFor(async () => links().resolved.active, (active) => active, 5_000)).toBe(true);
    const fresh = secretOf(await wallet.reissue());
    expect(await links().resolve(em(), 'ELECSNET', fresh)).not.toBeNull();
    const kept = await lookedUpOnce('ELECSNET', fresh);
    expect(kept.result?.wallet.id).toBe(wallet.id);
    expect(kept.statements).toEqual([]);
  });

  it('does not keep an answer looked up before a change it has heard of since', async () => {
    const cache = links().resolved;
    const wallet = await park.wallet('MOBILNIK');
    const found = (await links().resolve(em(), 'MOBILNIK', secretOf(wallet.link)))!;
    const before = cache.generation;
    await other.query('UPDATE wallet SET title = $2 WHERE id = $1', [wallet.id, 'renamed']);
    await waitFor(async () => cache.generation, (generation) => generation !== before, 2_000);
    cache.keep('a key of its own', found, before);
    expect(cache.get('a key of its own')).toBeUndefined();
    cache.keep('a key of its own', found, cache.generation);
    expect(cache.get('a key of its own')).toBe(found);
  });

  it('drops a kept link revoked by this process before the revocation is answered', async () => {
    const wallet = await park.wallet('TBC');
    const secret = secretOf(wallet.link);
    expect(await links().resolve(em(), 'TBC', secret)).not.toBeNull();
    await wallet.revoke();
    const after = await statementsDuring(bed.server.app.orm, () => links().resolve(em(), 'TBC', secret));
    expect(after.result).toBeNull();
    expect(after.statements, 'looked up again, not answered from what was kept').toHaveLength(1);
  });
});
