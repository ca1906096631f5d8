import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PayoutStatus } from '../src/payouts/lifecycle';
import { startProcess, type RunningProcess } from '../src/app/processes';
import { kafkaBrokers, startTestServer, tokenFor, type TestServer } from './helpers/app';
import { graphql } from './helpers/graphql';
import { collect, disconnectProducer, produce, untilSeen, waitFor, type OutgoingMessage } from './helpers/kafka';
import { accrualEvent } from './helpers/accruals';
import { payoutsModule } from '../src/payouts/module';
import { ledgerModule } from '../src/ledger/module';
import { erpModule } from '../src/erp/module';
import { accrualsModule } from '../src/accruals/module';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const brokers = kafkaBrokers();

let server: TestServer;

const accrual = accrualEvent;

/** Messages under one key land on one partition, so they are applied in the order sent. */
function keyed(key: string, values: unknown[]): OutgoingMessage[] {
  return values.map((value) => ({ key, value }));
}

async function balance(clientId: string, type = 'payout'): Promise<bigint> {
  const accounts = await server.app.use(ledgerModule).ledger.accountsOf(server.app.orm.em.fork(), { kind: 'CLIENT', id: clientId });
  return accounts.find((a) => a.type === type)?.balance ?? 0n;
}

function untilBalance(clientId: string, expected: bigint, type = 'payout'): Promise<bigint> {
  return waitFor(() => balance(clientId, type), (b) => b === expected);
}

interface DeadLetterRow {
  id: string;
  topic: string;
  partition: number | null;
  offset: string | null;
  key: string | null;
  value: string;
  reason: string;
  error_code: string;
  resolved_at: Date | null;
}

function deadLetters(topic: string): Promise<DeadLetterRow[]> {
  return server.app.orm.em.fork().execute<DeadLetterRow[]>('SELECT * FROM dead_letter WHERE topic = ? ORDER BY id', [topic]);
}

/** `payouts_dead_letters_total` for one topic, summed over codes, as /metrics shows it. */
async function deadLetterMetric(topic: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('payouts_dead_letters_total{') && line.includes(`topic="${topic}"`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe.skipIf(!brokers)('through the Kafka broker', () => {
  beforeAll(async () => {
    // The CLI runs from dist/: build it once while the server starts.
    const [started] = await Promise.all([
      startTestServer({ worker: true, consumers: true }, { kafka: true }),
      run('npm', ['run', 'build', '--silent'], { cwd: ROOT }),
    ]);
    server = started;
  });
  afterAll(async () => {
    await disconnectProducer();
    await server?.close();
  });

  describe('accruals topic', () => {
    const topic = () => server.app.settingsOf(accrualsModule).TOPIC_ACCRUALS;

    it('credits the payee’s payout account', async () => {
      await produce(topic(), keyed('c-credit', [accrual('ac-credit-1', 'c-credit', '50000', 'order-77')]));
      expect(await untilBalance('c-credit', 50_000n)).toBe(50_000n);

      const response = await graphql<{ balances: { accountType: string; balance: { minor: string; amount: string; currency: string } }[] }, unknown>(
        server.url,
        'query($payee: PayeeInput!) { balances(payee: $payee) { accountType balance { minor amount currency } } }',
        { payee: { kind: 'CLIENT', id: 'c-credit' } },
        tokenFor('admin'),
      );
      expect(response.errors).toBeUndefined();
      expect(response.data?.balances).toEqual([
        { accountType: 'payout', balance: { minor: '50000', amount: '500.00', currency: 'RUB' } },
      ]);
    });

    it('applies a repeated eventId, or a repeated reference under another eventId, once', async () => {
      await produce(
        topic(),
        keyed('c-dup', [
          accrual('ac-dup-1', 'c-dup', '50000', 'order-1'),
          accrual('ac-dup-1', 'c-dup', '50000', 'order-1'),
          accrual('ac-dup-2', 'c-dup', '50000', 'order-1'),
          // Applied only after the three above (same partition): when it shows, they have been seen.
          accrual('ac-dup-3', 'c-dup', '1', 'order-2'),
        ]),
      );
      expect(await untilBalance('c-dup', 50_001n)).toBe(50_001n);
      const rows = await server.app.orm.em
        .fork()
        .execute<{ reference: string }[]>("SELECT reference FROM accrual WHERE payee_id = 'c-dup' ORDER BY id");
      expect(rows.map((r) => r.reference)).toEqual(['order-1', 'order-2']);
    });

    it('accepts a safe-integer JSON number and debits on a negative amount', async () => {
      await produce(
        topic(),
        keyed('c-number', [accrual('ac-num-1', 'c-number', 70_000, 'order-1'), accrual('ac-num-2', 'c-number', '-20000', 'order-1-fix')]),
      );
      expect(await untilBalance('c-number', 50_000n)).toBe(50_000n);
      const rows = await server.app.orm.em
        .fork()
        .execute<{ amount: string }[]>("SELECT amount FROM accrual WHERE payee_id = 'c-number' ORDER BY id");
      expect(rows.map((r) => String(r.amount))).toEqual(['70000', '-20000']);
    });

    it('dead-letters what cannot be applied, counts it and goes on', async () => {
      const before = await deadLetterMetric(topic());
      const bad: [value: unknown, code: string][] = [
        ['{"eventId":"ac-bad-json",', 'BAD_USER_INPUT'],
        [{ ...accrual('x', 'c-bad', '100', 'no-event-id'), eventId: undefined }, 'BAD_USER_INPUT'],
        [accrual('ac-bad-fraction', 'c-bad', '1.5', 'fraction'), 'BAD_USER_INPUT'],
        [accrual('ac-bad-currency', 'c-bad', '100', 'currency', { currency: 'ZZZ' }), 'BAD_USER_INPUT'],
        [accrual('ac-bad-shop', 'c-bad', '100', 'shop', { payee: { kind: 'SHOP', partyId: 'p1', shopId: 's1' } }), 'BAD_USER_INPUT'],
        [accrual('ac-bad-overdraft', 'c-bad-debit', '-100', 'overdraft'), 'CONFLICT'],
        [accrual('ac-bad-date', 'c-bad', '100', 'date-only', { occurredAt: '2026-01-01' }), 'BAD_USER_INPUT'],
      ];
      const sent = await produce(
        topic(),
        keyed('c-bad', [
          // Good messages before the bad ones share their transaction; they must survive the refusals.
          accrual('ac-good-1', 'c-bad-ok', '1000', 'before-1'),
          accrual('ac-good-2', 'c-bad-ok', '2000', 'before-2'),
          ...bad.map(([value]) => value),
          accrual('ac-good-3', 'c-bad-ok', '3000', 'after'),
        ]),
      );
      expect(await untilBalance('c-bad-ok', 6_000n)).toBe(6_000n);

      expect(sent).toHaveLength(1);
      const { partition, baseOffset } = sent[0]!;
      const letters = await deadLetters(topic());
      expect(
        letters.map((d) => ({ partition: d.partition, offset: d.offset, key: d.key, value: d.value, code: d.error_code })),
      ).toEqual(
        bad.map(([value, code], i) => ({
          partition,
          offset: String(BigInt(baseOffset!) + 2n + BigInt(i)),
          key: 'c-bad',
          value: typeof value === 'string' ? value : JSON.stringify(value),
          code,
        })),
      );
      for (const d of letters) expect(d.reason).not.toBe('');
      expect(letters[0]!.reason).toMatch(/JSON/);
      expect(letters[1]!.reason).toMatch(/eventId/);
      expect(letters[5]!.reason).toMatch(/[Ii]nsufficient/);
      expect(await deadLetterMetric(topic())).toBe(before + bad.length);
      expect(await balance('c-bad-debit')).toBe(0n);
    });

    it('dead-letters an accrual that would take a balance past what the ledger holds, and goes on', async () => {
      await produce(
        topic(),
        keyed('c-huge', [
          accrual('ac-huge-0', 'c-huge', '1', 'huge-0'),
          // Valid on its own, but 1 + this does not fit in a bigint balance.
          accrual('ac-huge-1', 'c-huge', '9223372036854775807', 'huge-1'),
          accrual('ac-huge-2', 'c-huge', '1', 'huge-2'),
        ]),
      );
      expect(await untilBalance('c-huge', 2n)).toBe(2n);
      const letters = (await deadLetters(topic())).filter((d) => d.key === 'c-huge');
      expect(letters.map((d) => [JSON.parse(d.value).eventId, d.error_code])).toEqual([['ac-huge-1', 'CONFLICT']]);
    });

    it('re-applies a dead-lettered debit with `payouts dead-letters retry` once the account is funded', async () => {
      await produce(topic(), keyed('c-retry', [accrual('ac-retry-debit', 'c-retry', '-30000', 'fee-1')]));
      const [letter] = await waitFor(
        async () => (await deadLetters(topic())).filter((d) => d.value.includes('ac-retry-debit')),
        (rows) => rows.length > 0,
      );
      expect(letter).toMatchObject({ error_code: 'CONFLICT', resolved_at: null });

      const env = { PATH: process.env.PATH, ...server.env };
      const listed = await run('node', ['bin/payouts.js', 'dead-letters', 'list', '--topic', topic()], { cwd: ROOT, env });
      const open = listed.stdout.trim().split('\n').map((line) => JSON.parse(line));
      expect(open).toContainEqual(expect.objectContaining({ id: String(letter!.id), code: 'CONFLICT', resolvedAt: null }));

      // Still no money: the retry fails, says why, and the letter stays open.
      const refused = await run('node', ['bin/payouts.js', 'dead-letters', 'retry', String(letter!.id)], { cwd: ROOT, env }).catch(
        (error: { code: number; stdout: string }) => error,
      );
      expect(refused).toMatchObject({ code: 1 });
      expect(JSON.parse(refused.stdout)).toMatchObject({ id: String(letter!.id), outcome: 'dead-lettered' });

      await produce(topic(), keyed('c-retry', [accrual('ac-retry-credit', 'c-retry', '50000', 'order-1')]));
      await untilBalance('c-retry', 50_000n);
      const retried = await run('node', ['bin/payouts.js', 'dead-letters', 'retry', String(letter!.id)], { cwd: ROOT, env });
      expect(JSON.parse(retried.stdout)).toEqual({ id: String(letter!.id), outcome: 'applied', reason: null });
      expect(await balance('c-retry')).toBe(20_000n);

      const all = await run('node', ['bin/payouts.js', 'dead-letters', 'list', '--all', '--topic', topic()], { cwd: ROOT, env });
      const resolved = all.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
        .find((d) => d.id === String(letter!.id));
      expect(resolved.resolvedAt).not.toBeNull();
      const stillOpen = await run('node', ['bin/payouts.js', 'dead-letters', 'list', '--topic', topic()], { cwd: ROOT, env });
      expect(stillOpen.stdout).not.toContain(`"id":"${letter!.id}"`);

      // The same debit redelivered under its eventId now finds it applied and changes nothing.
      await produce(topic(), keyed('c-retry', [accrual('ac-retry-debit', 'c-retry', '-30000', 'fee-1'), accrual('ac-retry-last', 'c-retry', '1', 'x')]));
      expect(await untilBalance('c-retry', 20_001n)).toBe(20_001n);
    });
  });

  describe('ERP status topics', () => {
    const ard = () => server.app.settingsOf(erpModule).TOPIC_ERP_STATUS_ARD;
    const oebs = () => server.app.settingsOf(erpModule).TOPIC_ERP_STATUS_OEBS;
    let counter = 0;

    /** A funded CLIENT payout of 10 000, created and sent through the services. */
    async function sentPayout(): Promise<{ id: string; clientId: string }> {
      const clientId = `c-erp-${++counter}`;
      const em = server.app.orm.em.fork();
      await em.transactional((tx) =>
        server.app.use(accrualsModule).accruals.apply(
          tx,
          { payee: { kind: 'CLIENT', id: clientId }, account: 'payout', amount: 25_000n, currency: 'RUB', reference: 'earn', occurredAt: new Date() },
          'MANUAL',
        ),
      );
      const { payout } = await server.app.orm.em.fork().transactional((tx) =>
        server.app.use(payoutsModule).lifecycle.create(tx, {
          payee: { kind: 'CLIENT', id: clientId },
          amount: 10_000n,
          currency: 'RUB',
          source: 'MANUAL',
          idempotencyKey: `erp-${clientId}`,
        }),
      );
      await server.app.orm.em.fork().transactional((tx) => server.app.use(payoutsModule).lifecycle.send(tx, payout.id));
      return { id: payout.id, clientId };
    }

    function status(eventId: string, payoutId: string, value: PayoutStatus, reason?: string) {
      return { key: payoutId, value: { eventId, occurredAt: '2026-11-02T10:00:00Z', payoutId, status: value, ...(reason ? { reason } : {}) } };
    }

    async function payout(id: string): Promise<{ status: string; sequence: number; history: string[] }> {
      const em = server.app.orm.em.fork();
      const [row] = await em.execute<{ status: string; sequence: number }[]>('SELECT status, sequence FROM payout WHERE id = ?', [id]);
      const history = await em.execute<{ status: string }[]>(
        'SELECT status FROM payout_status_change WHERE payout_id = ? ORDER BY sequence',
        [id],
      );
      return { status: row!.status, sequence: row!.sequence, history: history.map((h) => h.status) };
    }

    function untilStatus(id: string, expected: PayoutStatus) {
      return waitFor(() => payout(id), (p) => p.status === expected);
    }


    it('moves a payout SENT → ACCEPTED → PAID and settles its money', async () => {
      const p = await sentPayout();
      await produce(ard(), [status('ard-1', p.id, 'ACCEPTED')]);
      expect((await untilStatus(p.id, 'ACCEPTED')).status).toBe('ACCEPTED');
      await produce(oebs(), [status('oebs-1', p.id, 'PAID')]);
      expect(await untilStatus(p.id, 'PAID')).toEqual({ status: 'PAID', sequence: 4, history: ['CREATED', 'SENT', 'ACCEPTED', 'PAID'] });
      expect(await balance(p.clientId)).toBe(15_000n);
      expect(await balance(p.clientId, 'payout-sent')).toBe(0n);
    });

    it('takes PAID before ACCEPTED; the late ACCEPTED and repeats change nothing', async () => {
      const p = await sentPayout();
      await produce(oebs(), [status('oebs-2', p.id, 'PAID')]);
      await untilStatus(p.id, 'PAID');
      await produce(ard(), [status('ard-2', p.id, 'ACCEPTED'), status('ard-2', p.id, 'ACCEPTED'), status('ard-2b', p.id, 'ACCEPTED')]);
      await produce(oebs(), [status('oebs-2', p.id, 'PAID'), status('oebs-2b', p.id, 'PAID')]);
      expect(await untilSeen(server.app, ard(), ['ard-2', 'ard-2b'])).toBe(2);
      expect(await untilSeen(server.app, oebs(), ['oebs-2', 'oebs-2b'])).toBe(2);
      expect(await payout(p.id)).toEqual({ status: 'PAID', sequence: 3, history: ['CREATED', 'SENT', 'PAID'] });
      expect(await balance(p.clientId)).toBe(15_000n);
      expect(await balance(p.clientId, 'payout-sent')).toBe(0n);
      const letters = (await deadLetters(ard())).concat(await deadLetters(oebs()));
      expect(letters.filter((d) => d.value.includes(p.id))).toEqual([]);
    });

    it('returns the money on REJECTED (from either feed) and on RETURNED', async () => {
      const rejectedByArd = await sentPayout();
      const rejectedByOebs = await sentPayout();
      const returned = await sentPayout();
      await produce(ard(), [status('ard-3', rejectedByArd.id, 'REJECTED', 'bad requisites'), status('ard-4', rejectedByOebs.id, 'ACCEPTED')]);
      await untilStatus(rejectedByOebs.id, 'ACCEPTED');
      await produce(oebs(), [
        status('oebs-3', rejectedByOebs.id, 'REJECTED', 'no such account'),
        status('oebs-4', returned.id, 'PAID'),
        status('oebs-5', returned.id, 'RETURNED', 'account closed'),
      ]);

      expect((await untilStatus(rejectedByArd.id, 'REJECTED')).history).toEqual(['CREATED', 'SENT', 'REJECTED']);
      expect((await untilStatus(rejectedByOebs.id, 'REJECTED')).history).toEqual(['CREATED', 'SENT', 'ACCEPTED', 'REJECTED']);
      expect((await untilStatus(returned.id, 'RETURNED')).history).toEqual(['CREATED', 'SENT', 'PAID', 'RETURNED']);
      for (const p of [rejectedByArd, rejectedByOebs, returned]) {
        expect(await balance(p.clientId)).toBe(25_000n);
        expect(await balance(p.clientId, 'payout-sent')).toBe(0n);
      }
      const [reason] = await server.app.orm.em
        .fork()
        .execute<{ reason: string }[]>("SELECT reason FROM payout_status_change WHERE payout_id = ? AND status = 'REJECTED'", [rejectedByArd.id]);
      expect(reason?.reason).toBe('bad requisites');
    });

    it('applies a RETURNED that arrives before its PAID as PAID, then RETURNED, and publishes both', async () => {
      const p = await sentPayout();
      await produce(oebs(), [status('oebs-early-return', p.id, 'RETURNED', 'account closed')]);
      expect(await untilStatus(p.id, 'RETURNED')).toEqual({ status: 'RETURNED', sequence: 4, history: ['CREATED', 'SENT', 'PAID', 'RETURNED'] });
      expect(await balance(p.clientId)).toBe(25_000n);
      expect(await balance(p.clientId, 'payout-sent')).toBe(0n);

      // Its PAID, arriving after all, changes nothing and is no dead letter.
      await produce(oebs(), [status('oebs-late-paid', p.id, 'PAID')]);
      expect(await untilSeen(server.app, oebs(), ['oebs-early-return', 'oebs-late-paid'])).toBe(2);
      expect((await payout(p.id)).sequence).toBe(4);
      expect((await deadLetters(oebs())).filter((d) => d.value.includes(p.id))).toEqual([]);

      const events = await collect(server.app.settingsOf(payoutsModule).TOPIC_PAYOUT_EVENTS, (all) => all.filter((m) => m.key === p.id).length >= 4);
      const mine = events.filter((m) => m.key === p.id).map((m) => m.value as { sequence: number; status: string });
      expect(mine.map((e) => [e.sequence, e.status])).toEqual([
        [1, 'CREATED'],
        [2, 'SENT'],
        [3, 'PAID'],
        [4, 'RETURNED'],
      ]);
    });

    it('dead-letters a status for an unknown payout, and one the lifecycle forbids', async () => {
      const unknown = randomUUID();
      const p = await sentPayout();
      await produce(oebs(), [status('oebs-forbidden-paid', p.id, 'PAID')]);
      await untilStatus(p.id, 'PAID');
      const [unknownAt] = await produce(oebs(), [status('oebs-unknown', unknown, 'PAID')]);
      const [forbiddenAt] = await produce(oebs(), [status('oebs-reject-after-paid', p.id, 'REJECTED')]);
      const letters = await waitFor(
        async () => (await deadLetters(oebs())).filter((d) => d.value.includes(unknown) || d.value.includes('oebs-reject-after-paid')),
        (rows) => rows.length === 2,
      );
      expect(letters.map((d) => [d.partition, d.offset, d.error_code]).sort()).toEqual(
        [
          [unknownAt!.partition, unknownAt!.baseOffset, 'NOT_FOUND'],
          [forbiddenAt!.partition, forbiddenAt!.baseOffset, 'CONFLICT'],
        ].sort(),
      );
      expect((await payout(p.id)).status).toBe('PAID');
      expect(await balance(p.clientId)).toBe(15_000n);
      expect(await balance(p.clientId, 'payout-sent')).toBe(0n);
    });
  });
});

describe.skipIf(!brokers)('consumer offsets across a restart', () => {
  let second: RunningProcess | null = null;
  beforeAll(async () => {
    server = await startTestServer({ api: false, worker: false, consumers: true }, { kafka: true });
  });
  afterAll(async () => {
    await second?.stop();
    await disconnectProducer();
    await server?.close();
  });

  it('a new process in the same group resumes after what was applied and applies only the new messages', async () => {
    const topic = server.app.settingsOf(accrualsModule).TOPIC_ACCRUALS;
    await produce(
      topic,
      keyed('c-restart', [
        accrual('ac-r-1', 'c-restart', '100', 'r-1'),
        accrual('ac-r-2', 'c-restart', '200', 'r-2'),
        accrual('ac-r-3', 'c-restart', '300', 'r-3'),
      ]),
    );
    expect(await untilBalance('c-restart', 600n)).toBe(600n);
    await server.running.stop();

    second = await startProcess({ api: false, worker: false, consumers: true, migrate: false }, server.env);
    await produce(topic, keyed('c-restart', [accrual('ac-r-4', 'c-restart', '400', 'r-4'), accrual('ac-r-5', 'c-restart', '500', 'r-5')]));
    const em = () => second!.app.orm.em.fork();
    const accounts = await waitFor(
      () => second!.app.use(ledgerModule).ledger.accountsOf(em(), { kind: 'CLIENT', id: 'c-restart' }),
      (list) => list.some((a) => a.type === 'payout' && a.balance === 1_500n),
    );
    expect(accounts.find((a) => a.type === 'payout')?.balance).toBe(1_500n);

    // The new process was handed the committed offsets: it never saw the first three again.
    const seen = (await second.app.metrics.inboundMessages.get()).values.filter((v) => v.labels.topic === topic);
    expect(seen.map((v) => [v.labels.outcome, v.value])).toEqual([['applied', 2]]);
  });
});
