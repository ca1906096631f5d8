import { randomUUID } from 'node:crypto';
import type { Client } from 'pg';
import { describe, expect, it } from 'vitest';
import { LEDGER_KEY_REUSED } from '../../src/ledger/ledger.service';
import { payoutEvent, type PayoutRow } from '../../src/payouts/payout-messages';
import { SqlState } from '../../src/platform/database-errors';
import { toWireJson } from '../../src/platform/outbox/outbox';
import {
  PAYOUT_TABLES,
  balances,
  changedKeys,
  expectNothingChanged,
  expectRefused,
  fund,
  ledgerPost,
  openAccount,
  useSqlTestDatabase,
  snapshot,
  sqlError,
  unique,
  without,
  worldAccount,
} from './sql-helpers';

/**
 * The payout lifecycle's SQL, `payout_step` and the procedure `payout_step_each`, on their own,
 * called in SQL through plain `pg` clients as PayoutService calls them: what a step writes, that a
 * stale or busy payout is left alone, and that a refused step leaves every row as it was.
 */

const TOPICS = ['payouts.events', 'erp.payouts'];
const NON_NEGATIVE = { code: SqlState.checkViolation, constraint: 'ledger_account_balance_non_negative' };

let client: Client;
const db = useSqlTestDatabase((opened) => (client = opened.client));

interface Payout {
  id: string;
  payee: string;
  amount: bigint;
  available: string;
  reserved: string;
  inFlight: string;
  world: string;
}

/**
 * A CREATED payout at sequence 1, as PayoutService.createMany leaves it: its payee's accounts,
 * its first history entry, and its amount moved from `available` to `reserved` (unless `reserve`
 * is false: then the reserved account lacks the money a send moves on).
 */
async function createdPayout(options: { amount?: bigint; currency?: string; reserve?: boolean } = {}): Promise<Payout> {
  const amount = options.amount ?? 100n;
  const currency = options.currency ?? 'RUB';
  const payee = unique('payee');
  const [available, reserved, inFlight] = [
    await openAccount(client, { owner: payee, type: 'payout', currency }),
    await openAccount(client, { owner: payee, type: 'payout-reserved', currency }),
    await openAccount(client, { owner: payee, type: 'payout-sent', currency }),
  ];
  const world = await worldAccount(client, currency);
  const id = randomUUID();
  await client.query(
    `INSERT INTO payout (id, payee_kind, payee_id, account_id, amount, currency, status, source, idempotency_key)
     VALUES ($1, 'CLIENT', $2, $3, $4, $5, 'CREATED', 'MANUAL', $6)`,
    [id, payee, available, String(amount), currency, unique('payout-key')],
  );
  await client.query(`INSERT INTO payout_status_change (payout_id, sequence, status) VALUES ($1, 1, 'CREATED')`, [id]);
  if (options.reserve !== false) {
    await fund(client, available, amount, currency);
    await ledgerPost(client, { key: `payout:${id}:CREATED`, debit: available, credit: reserved, amount, currency, kind: 'payout_created', reference: id });
  }
  return { id, payee, amount, available, reserved, inFlight, world };
}

interface Step {
  payout: string;
  from: string;
  sequence: number;
  to: string;
  at: Date;
  reason: string | null;
  actor: string | null;
  transferKey: string | null;
  debit: string | null;
  credit: string | null;
  transferKind: string | null;
  fact: string | null;
  topics: string[];
  messages: string[];
}

/** The step PayoutService.sendIfFree writes: CREATED at sequence 1 to SENT, reserved to in-flight, a fact and two messages. */
function sendStep(p: Payout, overrides: Partial<Step> = {}): Step {
  return {
    payout: p.id,
    from: 'CREATED',
    sequence: 1,
    to: 'SENT',
    at: new Date('2026-12-01T10:00:00.000Z'),
    reason: 'sent to the ERP',
    actor: 'erp-sender',
    transferKey: `payout:${p.id}:SENT`,
    debit: p.reserved,
    credit: p.inFlight,
    transferKind: 'payout_sent',
    fact: randomUUID(),
    topics: TOPICS,
    messages: [`{"event":"sent","payout":"${p.id}"}`, `{"erp":"${p.id}"}`],
    ...overrides,
  };
}

async function payoutStep(step: Step, on: Client = client): Promise<boolean> {
  const { rows } = await on.query<{ stepped: boolean }>(
    `SELECT payout_step($1::uuid, $2, $3::integer, $4, $5::timestamptz, $6, $7, $8, $9::bigint, $10::bigint, $11, $12::uuid, $13::text[], $14::text[]) AS stepped`,
    [
      step.payout,
      step.from,
      step.sequence,
      step.to,
      step.at,
      step.reason,
      step.actor,
      step.transferKey,
      step.debit,
      step.credit,
      step.transferKind,
      step.fact,
      step.topics,
      step.messages,
    ],
  );
  return rows[0]!.stepped;
}

/** `CALL payout_step_each(...)` for steps that share from, to, reason, actor, kind and topics, as PayoutService.sendEach makes them. */
async function payoutStepEach(steps: Step[], on: Client = client): Promise<boolean[]> {
  const first = steps[0] ?? sendStep({ id: randomUUID() } as Payout);
  const { rows } = await on.query<{ p_stepped: boolean[] }>(
    `CALL payout_step_each($1::uuid[], $2, $3::integer[], $4, $5::timestamptz[], $6, $7, $8::text[], $9::bigint[], $10::bigint[],
                           $11, $12::uuid[], $13::text[], $14::text[], NULL)`,
    [
      steps.map((s) => s.payout),
      first.from,
      steps.map((s) => s.sequence),
      first.to,
      steps.map((s) => s.at),
      first.reason,
      first.actor,
      steps.map((s) => s.transferKey),
      steps.map((s) => s.debit),
      steps.map((s) => s.credit),
      first.transferKind,
      steps.map((s) => s.fact),
      first.topics,
      steps.flatMap((s) => s.messages),
    ],
  );
  return rows[0]!.p_stepped;
}

async function payoutRow(id: string) {
  const { rows } = await client.query(`SELECT status, sequence, updated_at, xmin::text AS xmin FROM payout WHERE id = $1`, [id]);
  return rows[0];
}

/** What one sent payout wrote, each row with the transaction (xmin) that wrote it. */
async function writtenBySend(p: Payout) {
  const transfer = await client.query(
    `SELECT id, debit_account_id, credit_account_id, amount, currency, kind, reference, xmin::text AS xmin FROM ledger_transfer WHERE idempotency_key = $1`,
    [`payout:${p.id}:SENT`],
  );
  const history = await client.query(
    `SELECT sequence, status, reason, actor, occurred_at, xmin::text AS xmin FROM payout_status_change WHERE payout_id = $1 ORDER BY sequence`,
    [p.id],
  );
  const fact = await client.query(
    `SELECT id, account_id, transfer_id, amount, currency, created_at, xmin::text AS xmin FROM cash_payment_fact WHERE payout_id = $1`,
    [p.id],
  );
  const outbox = await client.query(`SELECT topic, key, value, xmin::text AS xmin FROM outbox_message WHERE key = $1 ORDER BY id`, [p.id]);
  return { payout: await payoutRow(p.id), transfer: transfer.rows, history: history.rows, fact: fact.rows, outbox: outbox.rows };
}

describe('payout_step', () => {
  it('sends a payout: its amount from reserved to in flight, the new status and history entry, the cash-payment fact and the messages', async () => {
    const p = await createdPayout({ amount: 250n });
    const step = sendStep(p);
    const before = await snapshot(client, PAYOUT_TABLES);

    expect(await payoutStep(step)).toBe(true);

    const written = await writtenBySend(p);
    expect(written.payout).toMatchObject({ status: 'SENT', sequence: 2, updated_at: step.at });
    // The amount and currency are the payout's own; the transfer names the payout.
    expect(written.transfer).toEqual([
      expect.objectContaining({ debit_account_id: p.reserved, credit_account_id: p.inFlight, amount: '250', currency: 'RUB', kind: 'payout_sent', reference: p.id }),
    ]);
    const transferId = written.transfer[0].id;
    expect(written.history.map(({ xmin: _xmin, ...row }) => row)).toEqual([
      { sequence: 1, status: 'CREATED', reason: null, actor: null, occurred_at: expect.any(Date) },
      { sequence: 2, status: 'SENT', reason: 'sent to the ERP', actor: 'erp-sender', occurred_at: step.at },
    ]);
    expect(written.fact).toEqual([
      { id: step.fact, account_id: p.reserved, transfer_id: transferId, amount: '250', currency: 'RUB', created_at: step.at, xmin: expect.any(String) },
    ]);
    expect(written.outbox.map(({ xmin: _xmin, ...row }) => row)).toEqual([
      { topic: 'payouts.events', key: p.id, value: step.messages[0] },
      { topic: 'erp.payouts', key: p.id, value: step.messages[1] },
    ]);
    expect(await balances(client, [p.available, p.reserved, p.inFlight])).toEqual([0n, 0n, 250n]);
    // One transaction wrote it all, and nothing else changed.
    const xmins = new Set([written.payout.xmin, ...written.transfer.map((r) => r.xmin), written.history[1].xmin, ...written.fact.map((r) => r.xmin), ...written.outbox.map((r) => r.xmin)]);
    expect(xmins.size).toBe(1);
    const changed = changedKeys(before, await snapshot(client, PAYOUT_TABLES));
    expect(changed).toEqual({
      ledger_account: [p.reserved, p.inFlight].sort(),
      ledger_transfer: [transferId],
      payout: [p.id],
      payout_status_change: [`${p.id}/2`],
      cash_payment_fact: [step.fact],
      outbox_message: expect.any(Array),
    });
    expect(changed.outbox_message).toHaveLength(2);
  });

  it('takes a step that moves no money (SENT to ACCEPTED) without a transfer or a fact', async () => {
    const p = await createdPayout();
    await payoutStep(sendStep(p));
    const before = await snapshot(client, PAYOUT_TABLES);
    const at = new Date('2026-12-01T11:00:00.000Z');
    const accept = sendStep(p, { from: 'SENT', sequence: 2, to: 'ACCEPTED', at, transferKey: null, debit: null, credit: null, transferKind: null, fact: null, topics: ['payouts.events'], messages: ['{"accepted":true}'] });

    expect(await payoutStep(accept)).toBe(true);

    expect(await payoutRow(p.id)).toMatchObject({ status: 'ACCEPTED', sequence: 3, updated_at: at });
    const changed = changedKeys(before, await snapshot(client, PAYOUT_TABLES));
    expect(Object.keys(changed).sort()).toEqual(['outbox_message', 'payout', 'payout_status_change']);
    expect(changed.payout_status_change).toEqual([`${p.id}/3`]);
    expect(changed.outbox_message).toHaveLength(1);
  });

  it('writes no message when given no topics', async () => {
    const p = await createdPayout();
    const before = await snapshot(client, PAYOUT_TABLES);
    expect(await payoutStep(sendStep(p, { topics: [], messages: [] }))).toBe(true);
    expect(changedKeys(before, await snapshot(client, PAYOUT_TABLES)).outbox_message).toBeUndefined();
  });

  it('gives the money back on a later step (SENT to REJECTED: in flight back to available)', async () => {
    const p = await createdPayout({ amount: 70n });
    await payoutStep(sendStep(p));
    const reject = sendStep(p, { from: 'SENT', sequence: 2, to: 'REJECTED', transferKey: `payout:${p.id}:REJECTED`, debit: p.inFlight, credit: p.available, transferKind: 'payout_rejected', fact: null });
    expect(await payoutStep(reject)).toBe(true);
    expect(await balances(client, [p.available, p.reserved, p.inFlight])).toEqual([70n, 0n, 0n]);
    expect(await payoutRow(p.id)).toMatchObject({ status: 'REJECTED', sequence: 3 });
  });

  it('takes a step once: the same step again (a stale status and sequence) returns false and changes nothing', async () => {
    const p = await createdPayout();
    const step = sendStep(p);
    expect(await payoutStep(step)).toBe(true);
    expect(await expectNothingChanged(client, PAYOUT_TABLES, () => payoutStep({ ...step, fact: randomUUID() }))).toBe(false);
    expect(await balances(client, [p.reserved, p.inFlight])).toEqual([0n, 100n]);
  });

  it('returns false and changes nothing at a stale status, a stale sequence, or for a payout that does not exist', async () => {
    const p = await createdPayout();
    for (const stale of [{ from: 'SENT' }, { sequence: 2 }, { sequence: 0 }, { payout: randomUUID() }]) {
      expect(await expectNothingChanged(client, PAYOUT_TABLES, () => payoutStep(sendStep(p, stale)))).toBe(false);
    }
    expect(await payoutRow(p.id)).toMatchObject({ status: 'CREATED', sequence: 1 });
  });

  it('skips a payout another transaction holds (SKIP LOCKED): false at once, nothing written; the same step once it is free', async () => {
    const p = await createdPayout();
    const other = await db.connect();
    await other.query('BEGIN');
    await other.query('SELECT 1 FROM payout WHERE id = $1 FOR UPDATE', [p.id]);
    try {
      expect(await expectNothingChanged(client, PAYOUT_TABLES, () => payoutStep(sendStep(p)))).toBe(false);
    } finally {
      await other.query('ROLLBACK');
    }
    expect(await payoutStep(sendStep(p))).toBe(true);
  });

  it('refuses a step whose movement would take the debit account below zero', async () => {
    const p = await createdPayout({ reserve: false });
    await expectRefused(client, PAYOUT_TABLES, () => payoutStep(sendStep(p)), NON_NEGATIVE);
  });

  it('refuses a step whose transfer key was used for a different transfer (PL002)', async () => {
    const p = await createdPayout();
    await ledgerPost(client, { key: `payout:${p.id}:SENT`, debit: p.world, credit: p.inFlight, amount: 1n });
    await expectRefused(client, PAYOUT_TABLES, () => payoutStep(sendStep(p)), {
      code: LEDGER_KEY_REUSED,
      message: /was used for a different transfer/,
    });
  });

  it('refuses a step between accounts of another currency than the payout', async () => {
    const p = await createdPayout({ currency: 'RUB' });
    const usd = await openAccount(client, { owner: p.payee, type: 'payout-sent', currency: 'USD' });
    await expectRefused(client, PAYOUT_TABLES, () => payoutStep(sendStep(p, { credit: usd })), { code: '23503', constraint: 'ledger_transfer_credit_fk' });
  });

  it('refuses a second cash-payment fact for a payout', async () => {
    const p = await createdPayout();
    await payoutStep(sendStep(p));
    const paid = sendStep(p, { from: 'SENT', sequence: 2, to: 'PAID', transferKey: `payout:${p.id}:PAID`, debit: p.inFlight, credit: p.world, transferKind: 'payout_paid' });
    await expectRefused(client, PAYOUT_TABLES, () => payoutStep(paid), { code: '23505', constraint: 'cash_payment_fact_payout_key' });
  });

  it('refuses a cash-payment fact for a step that moves no money', async () => {
    const p = await createdPayout();
    const noTransfer = sendStep(p, { transferKey: null, debit: null, credit: null, transferKind: null });
    await expectRefused(client, PAYOUT_TABLES, () => payoutStep(noTransfer), { code: '23502', constraint: undefined, message: /"account_id"|"transfer_id"/ });
  });

  it('refuses a status outside the lifecycle', async () => {
    const p = await createdPayout();
    await expectRefused(client, PAYOUT_TABLES, () => payoutStep(sendStep(p, { to: 'LOST' })), { code: SqlState.checkViolation, constraint: 'payout_status_check' });
  });

  it('refuses fewer messages than topics', async () => {
    const p = await createdPayout();
    await expectRefused(client, PAYOUT_TABLES, () => payoutStep(sendStep(p, { messages: ['{}'] })), { code: '23502', constraint: undefined, message: /"value"/ });
  });
});

describe('payout_step_each', () => {
  it('steps each payout in a transaction of its own, each with its own money, fact and messages', async () => {
    const payouts = [await createdPayout({ amount: 10n }), await createdPayout({ amount: 20n }), await createdPayout({ amount: 30n })];
    const steps = payouts.map((p, i) => sendStep(p, { at: new Date(Date.UTC(2026, 11, 1, 10, i)) }));
    const before = await snapshot(client, PAYOUT_TABLES);

    expect(await payoutStepEach(steps)).toEqual([true, true, true]);

    const xmins: string[] = [];
    for (const [i, p] of payouts.entries()) {
      const written = await writtenBySend(p);
      expect(written.payout).toMatchObject({ status: 'SENT', sequence: 2, updated_at: steps[i]!.at });
      expect(written.transfer).toEqual([expect.objectContaining({ debit_account_id: p.reserved, credit_account_id: p.inFlight, amount: String(p.amount) })]);
      expect(written.fact).toEqual([expect.objectContaining({ id: steps[i]!.fact, amount: String(p.amount), transfer_id: written.transfer[0].id })]);
      // Its own messages, in order: p_messages holds two per payout.
      expect(written.outbox.map((row) => [row.topic, row.value])).toEqual([
        [TOPICS[0], steps[i]!.messages[0]],
        [TOPICS[1], steps[i]!.messages[1]],
      ]);
      expect(await balances(client, [p.reserved, p.inFlight])).toEqual([0n, p.amount]);
      const rows = [written.payout, ...written.transfer, written.history[1], ...written.fact, ...written.outbox];
      expect(new Set(rows.map((row) => row.xmin)).size).toBe(1);
      xmins.push(written.payout.xmin);
    }
    expect(new Set(xmins).size).toBe(3);
    const changed = changedKeys(before, await snapshot(client, PAYOUT_TABLES));
    expect(changed.payout).toEqual(payouts.map((p) => p.id).sort());
    expect(changed.ledger_transfer).toHaveLength(3);
  });

  it('returns no steps for no payouts and changes nothing', async () => {
    expect(await expectNothingChanged(client, PAYOUT_TABLES, () => payoutStepEach([]))).toEqual([]);
  });

  it('leaves a stale payout and one another transaction holds as they are, and steps the rest', async () => {
    const [fresh, stale, held, last] = [await createdPayout(), await createdPayout(), await createdPayout(), await createdPayout()];
    const other = await db.connect();
    await other.query('BEGIN');
    await other.query('SELECT 1 FROM payout WHERE id = $1 FOR UPDATE', [held.id]);
    const before = await snapshot(client, PAYOUT_TABLES);
    let stepped: boolean[];
    try {
      stepped = await payoutStepEach([sendStep(fresh), sendStep(stale, { sequence: 2 }), sendStep(held), sendStep(last)]);
    } finally {
      await other.query('ROLLBACK');
    }
    expect(stepped).toEqual([true, false, false, true]);
    // Every row but the two stepped payouts' own (their payee's accounts among them) is as it was.
    const marks = [fresh, last].flatMap((p) => [p.id, p.payee]);
    const after = await snapshot(client, PAYOUT_TABLES);
    expect(without(after, marks)).toEqual(without(before, marks));
    expect(changedKeys(before, after).payout).toEqual([fresh.id, last.id].sort());
    expect(await payoutStepEach([sendStep(held)])).toEqual([true]);
  });

  it('stops at a failing payout and raises: the payouts before it stay committed, it and those after are as they were', async () => {
    const [first, failing, after] = [await createdPayout(), await createdPayout({ reserve: false }), await createdPayout()];
    const before = await snapshot(client, PAYOUT_TABLES);

    const error = await sqlError(() => payoutStepEach([sendStep(first), sendStep(failing), sendStep(after)]));

    expect({ code: error.code, constraint: error.constraint }).toEqual(NON_NEGATIVE);
    const sent = await writtenBySend(first);
    expect(sent.payout).toMatchObject({ status: 'SENT', sequence: 2 });
    expect(sent.transfer).toHaveLength(1);
    expect(sent.payout.xmin).not.toBe((await payoutRow(failing.id)).xmin);
    expect(await balances(client, [first.reserved, first.inFlight])).toEqual([0n, 100n]);
    // Every row but the first payout's own (its payee's accounts among them) is as it was.
    const marks = [first.id, first.payee];
    expect(without(await snapshot(client, PAYOUT_TABLES), marks)).toEqual(without(before, marks));
    for (const p of [failing, after]) expect(await payoutRow(p.id)).toMatchObject({ status: 'CREATED', sequence: 1 });
  });

  it('refuses to run inside a transaction block (it commits per payout), and that transaction writes nothing', async () => {
    const p = await createdPayout();
    const before = await snapshot(client, PAYOUT_TABLES);
    await client.query('BEGIN');
    const error = await sqlError(() => payoutStepEach([sendStep(p)]));
    await client.query('ROLLBACK');
    expect(error.code).toBe('2D000');
    expect(await snapshot(client, PAYOUT_TABLES)).toEqual(before);
  });
});

describe('payout_by_idempotency_key', () => {
  it('gives the payout a key made, none for a key never used, and writes nothing', async () => {
    const p = await createdPayout();
    const key = (await client.query<{ idempotency_key: string }>('SELECT idempotency_key FROM payout WHERE id = $1', [p.id])).rows[0]!.idempotency_key;
    const byKey = (k: string) => client.query<{ id: string }>('SELECT id FROM payout_by_idempotency_key($1)', [k]).then((r) => r.rows);
    expect(await expectNothingChanged(client, PAYOUT_TABLES, () => byKey(key))).toEqual([{ id: p.id }]);
    expect(await byKey(unique('payout-key'))).toEqual([]);
    expect(await byKey(key.toUpperCase())).toEqual([]);
  });
});

describe('payout_created_message', () => {
  const at = new Date('2026-12-03T10:11:12.345Z');
  const rows: PayoutRow[] = [
    {
      id: randomUUID(),
      payee_kind: 'PARK',
      payee_id: 'park-1',
      account_id: '42',
      amount: '9007199254740993', // past 2^53: written as the database holds it, never through a float
      currency: 'RUB',
      status: 'CREATED',
      source: 'INSTANT',
      source_ref: 'a "key" with \\ back\nslash\ttab \u0001 control, unicode ключ and 🚕',
      cutoff: null,
      payout_tool_id: null,
      sequence: 1,
      created_at: at,
      updated_at: at,
    },
    {
      id: randomUUID(),
      payee_kind: 'SHOP',
      payee_id: 'party-1/shop/with/slashes',
      account_id: '7',
      amount: '1',
      currency: 'KZT',
      status: 'SENT',
      source: 'SCHEDULE',
      source_ref: null,
      cutoff: new Date('2026-12-01T00:00:00.000Z'),
      payout_tool_id: 'tool "1"',
      sequence: 3,
      created_at: new Date('2026-12-01T00:00:00.001Z'),
      updated_at: at,
    },
    { ...({} as PayoutRow), id: randomUUID(), payee_kind: 'DRIVER', payee_id: 'park-1/d1', account_id: '8', amount: '500', currency: 'RUB', status: 'CREATED', source: 'MANUAL', source_ref: '', cutoff: null, payout_tool_id: null, sequence: 1, created_at: at, updated_at: at },
  ];

  it('is byte for byte the message the service writes for the same payout (payoutEvent, JSON.stringify)', async () => {
    for (const row of rows) {
      const { rows: [sql] } = await client.query<{ message: string }>(
        `SELECT payout_created_message(json_populate_record(NULL::payout, $1::json), $2) AS message`,
        [JSON.stringify({ ...row, party_id: row.payee_kind === 'SHOP' ? 'party-1' : null, shop_id: null, idempotency_key: 'k' }), row.updated_at],
      );
      expect(sql!.message).toBe(toWireJson(payoutEvent(row, new Date(row.updated_at))));
    }
  });
});

describe('payout_create', () => {
  const create = (id: string, payee: string, amount: bigint, key: string, at = new Date()) =>
    client
      .query<{ id: string; account_id: string; amount: string; status: string; source: string; source_ref: string; sequence: number }>(
        `SELECT id, account_id::text, amount::text, status, source, source_ref, sequence
           FROM payout_create($1, 'PARK', $2, $3, 'RUB', 'INSTANT', 'press-1', $4, 'dispatcher-1', $5, 'payouts.events')`,
        [id, payee, String(amount), key, at],
      )
      .then((r) => r.rows[0]!);

  it('creates the payout, its history, its payouts.events message and its reservation, as createMany does', async () => {
    const payee = unique('park');
    const available = await openAccount(client, { ownerKind: 'PARK', owner: payee, type: 'payout' });
    await fund(client, available, 1000n);
    const id = randomUUID();
    const at = new Date('2026-12-03T09:00:00.123Z');
    const before = await snapshot(client, PAYOUT_TABLES);
    const created = await create(id, payee, 300n, `instant:${payee}:k`, at);
    expect(created).toEqual({ id, account_id: available, amount: '300', status: 'CREATED', source: 'INSTANT', source_ref: 'press-1', sequence: 1 });
    // The reserved account is opened on first use.
    const reserved = (await client.query<{ id: string }>(`SELECT id FROM ledger_account WHERE owner_id = $1 AND type = 'payout-reserved'`, [payee])).rows[0]!.id;
    expect(await balances(client, [available, reserved])).toEqual([700n, 300n]);
    const after = await snapshot(client, PAYOUT_TABLES);
    expect(Object.fromEntries(Object.entries(changedKeys(before, after)).map(([table, keys]) => [table, keys.length]))).toEqual({
      ledger_account: 2,
      ledger_transfer: 1,
      payout: 1,
      payout_status_change: 1,
      outbox_message: 1,
    });
    const { rows: [history] } = await client.query('SELECT sequence, status, actor, occurred_at FROM payout_status_change WHERE payout_id = $1', [id]);
    expect(history).toEqual({ sequence: 1, status: 'CREATED', actor: 'dispatcher-1', occurred_at: at });
    const { rows: [transfer] } = await client.query(
      `SELECT debit_account_id::text AS debit, credit_account_id::text AS credit, amount::text, kind, reference FROM ledger_transfer WHERE idempotency_key = $1`,
      [`payout:${id}:CREATED`],
    );
    expect(transfer).toEqual({ debit: available, credit: reserved, amount: '300', kind: 'payout_created', reference: id });
    const { rows: [message] } = await client.query<{ topic: string; key: string; value: string }>('SELECT topic, key, value FROM outbox_message WHERE key = $1', [id]);
    const row = (await client.query<PayoutRow>('SELECT * FROM payout WHERE id = $1', [id])).rows[0]!;
    expect(message).toEqual({ topic: 'payouts.events', key: id, value: toWireJson(payoutEvent({ ...row, account_id: String(row.account_id), amount: String(row.amount) }, at)) });
  });

  it('is refused by the ledger when the balance is short, and by the key when it was used: nothing written', async () => {
    const payee = unique('park');
    const available = await openAccount(client, { ownerKind: 'PARK', owner: payee, type: 'payout' });
    await openAccount(client, { ownerKind: 'PARK', owner: payee, type: 'payout-reserved' });
    await fund(client, available, 100n);
    await expectRefused(client, PAYOUT_TABLES, () => create(randomUUID(), payee, 101n, unique('key')), NON_NEGATIVE);
    const key = unique('key');
    await create(randomUUID(), payee, 40n, key);
    await expectRefused(client, PAYOUT_TABLES, () => create(randomUUID(), payee, 40n, key), { code: '23505', constraint: 'payout_idempotency_key_key' });
  });
});
