import { randomBytes, randomUUID } from 'node:crypto';
import type { Client } from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { unique, useSqlTestDatabase } from './sql-helpers';

/**
 * The wallets module's trigger function: what tells the processes serving callbacks that a link
 * they keep may be wrong now (`LinkCache`).
 */

let client: Client;
let listener: Client;
const db = useSqlTestDatabase((opened) => (client = opened.client));
const heard: string[] = [];

beforeAll(async () => {
  listener = await db.connect();
  listener.on('notification', (message) => heard.push(message.channel));
  await listener.query('LISTEN callback_links_changed');
  await listener.query('LISTEN test_marker');
});

/**
 * The notifications `change` caused, exactly: a marker NOTIFY sent after it arrives after anything
 * the change sent (notifications reach a listener in commit order).
 */
async function notificationsOf(change: () => Promise<unknown>): Promise<string[]> {
  heard.length = 0;
  await change();
  await client.query(`NOTIFY test_marker`);
  const deadline = Date.now() + 5000;
  while (!heard.includes('test_marker') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  return heard.filter((channel) => channel !== 'test_marker');
}

async function wallet(): Promise<string> {
  const parkId = unique('park');
  const walletId = randomUUID();
  await client.query(`INSERT INTO park (id, name, currency, timezone, status, version_at) VALUES ($1, 'P', 'RUB', 'Europe/Moscow', 'ACTIVE', now())`, [parkId]);
  await client.query(`INSERT INTO wallet (id, park_id, payment_system, title, currency) VALUES ($1, $2, 'QIWI', 'Q', 'RUB')`, [walletId, parkId]);
  return walletId;
}

const issueLink = (walletId: string, linkId = randomUUID()) =>
  client.query(`INSERT INTO callback_link (id, wallet_id, secret_hash, prefix) VALUES ($1, $2, $3, 'abcdef')`, [linkId, walletId, randomBytes(32)]);

async function walletWithLink(): Promise<{ walletId: string; linkId: string }> {
  const walletId = await wallet();
  const linkId = randomUUID();
  await issueLink(walletId, linkId);
  return { walletId, linkId };
}

describe('callback_links_changed', () => {
  it('says a link was revoked, or a wallet changed, once per transaction', async () => {
    const { walletId, linkId } = await walletWithLink();
    expect(await notificationsOf(() => client.query('UPDATE callback_link SET revoked_at = now() WHERE id = $1', [linkId]))).toEqual(['callback_links_changed']);
    expect(await notificationsOf(() => client.query('UPDATE wallet SET enabled = false WHERE id = $1', [walletId]))).toEqual(['callback_links_changed']);
    const both = async () => {
      await client.query('BEGIN');
      await client.query('UPDATE wallet SET title = $2 WHERE id = $1', [walletId, 'renamed']);
      await client.query('UPDATE wallet SET min_amount = 100 WHERE id = $1', [walletId]);
      await client.query('COMMIT');
    };
    expect(await notificationsOf(both)).toEqual(['callback_links_changed']);
  });

  it('says nothing for the look-up marking a link used, a new link, a change that touched no row, or one rolled back', async () => {
    const { walletId, linkId } = await walletWithLink();
    expect(await notificationsOf(() => client.query('UPDATE callback_link SET last_used_at = now() WHERE id = $1', [linkId]))).toEqual([]);
    const another = await wallet();
    expect(await notificationsOf(() => issueLink(another))).toEqual([]);
    expect(await notificationsOf(() => client.query('UPDATE callback_link SET revoked_at = now() WHERE id = $1', [randomUUID()]))).toEqual([]);
    const rolledBack = async () => {
      await client.query('BEGIN');
      await client.query('UPDATE wallet SET enabled = false WHERE id = $1', [walletId]);
      await client.query('ROLLBACK');
    };
    expect(await notificationsOf(rolledBack)).toEqual([]);
  });
});
