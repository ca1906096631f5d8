import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InsufficientFundsError } from '../src/ledger/ledger.service';
import { PAYOUT_STATUSES, decideTransition, stepsTo, type PayoutStatus } from '../src/payouts/lifecycle';
import { InvalidTransitionError } from '../src/payouts/payout-lifecycle';
import { accrualsModule } from '../src/accruals/module';
import { payoutsModule } from '../src/payouts/module';
import { ConflictError, InvalidInputError, NotFoundError } from '../src/platform/errors';
import { payeeId, type Payee } from '../src/access/payee';
import { createTestApp, type TestApp } from './helpers/app';
import { Random, seedFromEnv } from './helpers/random';

/**
 * Random accruals and payout steps, several at a time on separate connections, against an
 * in-memory model of the books. After every round: the ledger's own checks pass, every currency
 * sums to zero, nothing is negative that may not be, and the database agrees with the model.
 *
 * The plan of each round comes from the seed; which of two racing steps wins does not, so a
 * replay follows the same plan but may see other races.
 */
const STEPS = Number(process.env.RANDOM_STEPS ?? 3000);
const WORKERS = 4;
const SEED = seedFromEnv();

const CURRENCIES = ['RUB', 'USD'] as const;
const PAYEES: Payee[] = [
  { kind: 'CLIENT', id: 'rc1' },
  { kind: 'CLIENT', id: 'rc2' },
  { kind: 'CLIENT', id: 'rc3' },
  { kind: 'PARK', id: 'rp1' },
  { kind: 'PARK', id: 'rp2' },
];

/** Where a payout's money sits in each status: the model's own statement of the lifecycle's books. */
const HELD_IN: Record<PayoutStatus, string> = {
  CREATED: 'payout-reserved',
  SENT: 'payout-sent',
  ACCEPTED: 'payout-sent',
  PAID: 'world',
  REJECTED: 'payout',
  RETURNED: 'payout',
  CANCELLED: 'payout',
};
const LIVE: PayoutStatus[] = ['CREATED', 'SENT', 'ACCEPTED', 'PAID'];

const accountKey = (ownerKind: string, ownerId: string, type: string, currency: string) => `${ownerKind}:${ownerId}/${type}/${currency}`;
const payeeAccount = (payee: Payee, type: string, currency: string) =>
  type === 'world' ? accountKey('SYSTEM', 'system', 'world', currency) : accountKey(payee.kind, payeeId(payee), type, currency);

interface ModelPayout {
  id: string;
  key: string;
  payee: Payee;
  currency: string;
  amount: bigint;
  status: PayoutStatus;
  sequence: number;
  /** Every status it has had, in order: what its history must say. */
  history: PayoutStatus[];
}

interface ModelAccrual {
  payee: Payee;
  account: string;
  currency: string;
  amount: bigint;
  reference: string;
}

type Step =
  | ({ kind: 'accrue' } & ModelAccrual)
  | { kind: 'accrue-again'; accrual: ModelAccrual }
  | { kind: 'create'; payee: Payee; currency: string; amount: bigint; key: string }
  | { kind: 'create-again'; payout: ModelPayout; amount: bigint }
  | { kind: 'create-invalid'; payee: Payee; currency: string; amount: bigint; key: string }
  | { kind: 'transition'; payout: ModelPayout; to: PayoutStatus }
  /** Two statuses for one payout at once on two connections, as doubled or crossing messages do. */
  | { kind: 'race'; payout: ModelPayout; to: [PayoutStatus, PayoutStatus] }
  | { kind: 'transition-unknown'; to: PayoutStatus };

type Outcome = { step: Step; ok: true; value: unknown } | { step: Step; ok: false; error: unknown };

/** The expected books: balances of every account by key, and every payout. */
class Model {
  readonly balances = new Map<string, bigint>();
  readonly payouts = new Map<string, ModelPayout>();
  readonly accruals: ModelAccrual[] = [];
  /** News applied as more than one step (a RETURNED before its PAID). */
  impliedSteps = 0;
  private counter = 0;

  balance(key: string): bigint {
    return this.balances.get(key) ?? 0n;
  }

  move(from: string, to: string, amount: bigint): void {
    this.balances.set(from, this.balance(from) - amount);
    this.balances.set(to, this.balance(to) + amount);
  }

  unique(prefix: string): string {
    return `${prefix}-${++this.counter}`;
  }
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t?.close());

const fork = () => t.app.orm.em.fork() as EntityManager;

function plan(rng: Random, model: Model, touched: Set<string>): Step {
  const payee = rng.pick(PAYEES);
  const currency = rng.pick(CURRENCIES);
  const untouched = [...model.payouts.values()].filter((p) => !touched.has(p.id));
  const kind = rng.weighted([
    ['accrue', 26],
    ['accrue-again', 3],
    ['create', 24],
    ['create-again', 3],
    ['create-invalid', 1],
    ['transition', 38],
    ['race', 4],
    ['transition-unknown', 1],
  ] as const);

  if ((kind === 'transition' || kind === 'race' || kind === 'create-again') && untouched.length > 0) {
    const live = untouched.filter((p) => LIVE.includes(p.status));
    const payout = live.length > 0 && rng.chance(0.9) ? rng.pick(live) : rng.pick(untouched);
    touched.add(payout.id);
    if (kind === 'create-again') return { kind, payout, amount: rng.chance(0.5) ? payout.amount : payout.amount + rng.bigint(1, 10) };
    const allowed = PAYOUT_STATUSES.filter((to) => decideTransition(payout.status, to) === 'apply');
    // Mostly a real next step; sometimes anything, to exercise repeats, late news and refusals.
    const next = () => (allowed.length > 0 && rng.chance(0.75) ? rng.pick(allowed) : rng.pick(PAYOUT_STATUSES));
    if (kind === 'race') return { kind, payout, to: [next(), next()] };
    return { kind: 'transition', payout, to: next() };
  }
  if (kind === 'accrue-again' && model.accruals.length > 0) return { kind, accrual: rng.pick(model.accruals) };
  if (kind === 'create') return { kind, payee, currency, amount: rng.bigint(1, 4_000), key: model.unique('payout') };
  if (kind === 'create-invalid') return { kind, payee, currency, amount: -rng.bigint(0, 100), key: model.unique('payout') };
  if (kind === 'transition-unknown') return { kind, to: rng.pick(PAYOUT_STATUSES) };
  // Mostly credits; debits of up to 3 000 are often more than the account holds and must be refused.
  const amount = rng.chance(0.7) ? rng.bigint(1, 5_000) : -rng.bigint(1, 3_000);
  // `payout` is what payouts draw on; `bonus` is another account of the payee that they never touch.
  const account = rng.chance(0.8) ? 'payout' : 'bonus';
  return { kind: 'accrue', payee, account, currency, amount, reference: model.unique('accrual') };
}

/** One step in its own transaction on its own connection. */
async function run(step: Step): Promise<Outcome> {
  const { accruals } = t.app.use(accrualsModule);
  const payouts = t.app.use(payoutsModule).lifecycle;
  if (step.kind === 'race') {
    const both = await Promise.allSettled(
      step.to.map((to) => fork().transactional((tx) => payouts.transition(tx, step.payout.id, to, { reason: 'race' }))),
    );
    return { step, ok: true, value: both };
  }
  try {
    const value = await fork().transactional(async (tx) => {
      switch (step.kind) {
        case 'accrue':
          return accruals.apply(tx, { ...step, occurredAt: new Date() }, 'MANUAL');
        case 'accrue-again':
          return accruals.apply(tx, { ...step.accrual, occurredAt: new Date() }, 'MANUAL');
        case 'create':
        case 'create-invalid':
          return payouts.create(tx, { ...step, idempotencyKey: step.key, source: 'MANUAL' });
        case 'create-again': {
          const { payee, currency, key } = step.payout;
          return payouts.create(tx, { payee, currency, amount: step.amount, idempotencyKey: key, source: 'MANUAL' });
        }
        case 'transition':
          return payouts.transition(tx, step.payout.id, step.to, { reason: 'randomized' });
        case 'transition-unknown':
          return payouts.transition(tx, '00000000-0000-4000-8000-000000000000', step.to);
      }
    });
    return { step, ok: true, value };
  } catch (error) {
    return { step, ok: false, error };
  }
}

/** The account a step takes money from when the ledger may refuse it for want of funds. */
function debitedAccount(step: Step): string | null {
  if (step.kind === 'accrue' && step.amount < 0n) return payeeAccount(step.payee, step.account, step.currency);
  if (step.kind === 'create') return payeeAccount(step.payee, 'payout', step.currency);
  return null;
}

function describeStep(step: Step): string {
  return JSON.stringify(step, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

/**
 * Checks each outcome of a round against the model and applies the ones that took effect. The
 * arithmetic is order-independent, so concurrent successes apply in any order.
 */
function settle(model: Model, outcomes: Outcome[]): void {
  const before = new Map(model.balances);
  const debited = new Map<string, bigint>();
  const debit = (key: string, amount: bigint) => debited.set(key, (debited.get(key) ?? 0n) + amount);

  for (const outcome of outcomes) {
    const { step } = outcome;
    const fail: (why: string) => never = (why) => {
      const error = outcome.ok ? '' : ` — ${String((outcome.error as Error)?.stack ?? outcome.error)}`;
      throw new Error(`${why}: ${describeStep(step)}${error}`);
    };
    switch (step.kind) {
      case 'accrue': {
        const account = payeeAccount(step.payee, step.account, step.currency);
        const world = payeeAccount(step.payee, 'world', step.currency);
        if (!outcome.ok) {
          if (!(outcome.error instanceof InsufficientFundsError) || step.amount > 0n) fail('accrual refused');
          break;
        }
        expect((outcome.value as { created: boolean }).created).toBe(true);
        model.move(world, account, step.amount);
        if (step.amount < 0n) debit(account, -step.amount);
        model.accruals.push(step);
        break;
      }
      case 'accrue-again':
        if (!outcome.ok) fail('a repeated accrual failed');
        expect((outcome.value as { created: boolean }).created, describeStep(step)).toBe(false);
        break;
      case 'create': {
        if (!outcome.ok) {
          if (!(outcome.error instanceof InsufficientFundsError)) fail('payout creation refused');
          break;
        }
        const { payout, changed } = outcome.value as { payout: { id: string; status: string; amount: string }; changed: boolean };
        expect([changed, payout.status, String(payout.amount)]).toEqual([true, 'CREATED', String(step.amount)]);
        const created: ModelPayout = { ...step, id: payout.id, status: 'CREATED', sequence: 1, history: ['CREATED'] };
        model.payouts.set(payout.id, created);
        const available = payeeAccount(step.payee, 'payout', step.currency);
        model.move(available, payeeAccount(step.payee, HELD_IN.CREATED, step.currency), step.amount);
        debit(available, step.amount);
        break;
      }
      case 'create-again': {
        const same = step.amount === step.payout.amount;
        if (!same) {
          if (outcome.ok || !(outcome.error instanceof ConflictError) || outcome.error instanceof InsufficientFundsError) {
            fail('a reused payout key with another amount was not refused as a conflict');
          }
          break;
        }
        if (!outcome.ok) fail('a repeated payout creation failed');
        const { payout, changed } = outcome.value as { payout: { id: string; status: string }; changed: boolean };
        expect([changed, payout.id, payout.status]).toEqual([false, step.payout.id, step.payout.status]);
        break;
      }
      case 'create-invalid':
        if (outcome.ok || !(outcome.error instanceof InvalidInputError)) fail('a payout of a non-positive amount was not refused');
        break;
      case 'transition-unknown':
        if (outcome.ok || !(outcome.error instanceof NotFoundError)) fail('a status for an unknown payout was not refused');
        break;
      case 'transition': {
        const payout = step.payout;
        const decision = decideTransition(payout.status, step.to);
        if (decision === 'refuse') {
          if (outcome.ok || !(outcome.error instanceof InvalidTransitionError)) fail(`${payout.status} → ${step.to} was not refused`);
          break;
        }
        if (!outcome.ok) fail(`${payout.status} → ${step.to} failed`);
        const result = outcome.value as { payout: { status: string; sequence: number }; changed: boolean };
        const applied = decision === 'apply';
        const status = applied ? step.to : payout.status;
        expect([result.changed, result.payout.status], describeStep(step)).toEqual([applied, status]);
        // News that implies a step first (RETURNED before its PAID) makes both.
        const steps = applied ? stepsTo(payout.status, step.to) : [];
        if (steps.length > 1) model.impliedSteps += 1;
        for (const to of steps) advance(model, payout, to);
        break;
      }
      case 'race': {
        if (!outcome.ok) fail('a race failed');
        const results = outcome.value as PromiseSettledResult<{ changed: boolean }>[];
        // Either could have gone first: the outcomes must be those of one of the two orders.
        const inOrder = (first: 0 | 1) => explain(step.payout.status, [first, 1 - first].map((i) => [step.to[i]!, results[i]!] as const));
        const order = inOrder(0) ?? inOrder(1);
        if (!order) {
          const seen = results.map((r) => (r.status === 'fulfilled' ? `changed=${r.value.changed}` : String(r.reason)));
          fail(`no order of the race explains its outcomes (${seen.join('; ')})`);
        }
        for (const to of order!) advance(model, step.payout, to);
        break;
      }
    }
  }

  // Steps of a round race, so a refusal for want of funds is checked against the least the account
  // can have held at any moment of the round: what it had, less every debit that went through.
  for (const outcome of outcomes) {
    const account = debitedAccount(outcome.step);
    if (!account || outcome.ok) continue;
    const wanted = outcome.step.kind === 'accrue' ? -outcome.step.amount : (outcome.step as { amount: bigint }).amount;
    const leastItHeld = (before.get(account) ?? 0n) - (debited.get(account) ?? 0n);
    if (wanted <= leastItHeld) {
      throw new Error(`refused for want of ${wanted} though ${account} held at least ${leastItHeld}: ${describeStep(outcome.step)}`);
    }
  }
}

function advance(model: Model, payout: ModelPayout, to: PayoutStatus): void {
  const from = payeeAccount(payout.payee, HELD_IN[payout.status], payout.currency);
  model.move(from, payeeAccount(payout.payee, HELD_IN[to], payout.currency), payout.amount);
  payout.status = to;
  payout.sequence += 1;
  payout.history.push(to);
}

/** The steps made if the transitions ran in this order, or null when the results say otherwise. */
type Attempt = readonly [PayoutStatus, PromiseSettledResult<{ changed: boolean }>];
function explain(status: PayoutStatus, attempts: readonly Attempt[]): PayoutStatus[] | null {
  const applied: PayoutStatus[] = [];
  for (const [to, result] of attempts) {
    const decision = decideTransition(status, to);
    if (decision === 'refuse') {
      if (result.status !== 'rejected' || !(result.reason instanceof InvalidTransitionError)) return null;
      continue;
    }
    if (result.status !== 'fulfilled' || result.value.changed !== (decision === 'apply')) return null;
    if (decision === 'apply') {
      applied.push(...stepsTo(status, to));
      status = to;
    }
  }
  return applied;
}

/** The database against the model, and the ledger's own rules. */
async function verify(model: Model): Promise<void> {
  const em = fork();
  expect(await t.app.checkLedger(em)).toEqual([]);

  const accounts = await em.execute<
    { owner_kind: string; owner_id: string; type: string; currency: string; balance: string; allow_negative: boolean }[]
  >('SELECT owner_kind, owner_id, type, currency, balance::text AS balance, allow_negative FROM ledger_account');
  const actual = new Map<string, bigint>();
  const sums = new Map<string, bigint>();
  for (const a of accounts) {
    const balance = BigInt(a.balance);
    if (a.owner_kind !== 'SYSTEM') {
      expect(a.allow_negative, `${a.owner_kind}:${a.owner_id} ${a.type} may go negative`).toBe(false);
      expect(balance >= 0n, `${a.owner_kind}:${a.owner_id} ${a.type} ${a.currency} is ${balance}`).toBe(true);
    }
    sums.set(a.currency, (sums.get(a.currency) ?? 0n) + balance);
    if (balance !== 0n) actual.set(accountKey(a.owner_kind, a.owner_id, a.type, a.currency.trim()), balance);
  }
  for (const [currency, total] of sums) expect(total, `the sum of ${currency}`).toBe(0n);

  const expected = new Map([...model.balances].filter(([, balance]) => balance !== 0n));
  expect(Object.fromEntries([...actual].sort())).toEqual(Object.fromEntries([...expected].sort()));

  const payouts = await em.execute<{ id: string; status: string; amount: string; sequence: number; history: string }[]>(
    `SELECT id, status, amount::text AS amount, sequence,
            (SELECT string_agg(h.status, '>' ORDER BY h.sequence) FROM payout_status_change h WHERE h.payout_id = p.id) AS history
       FROM payout p`,
  );
  expect(payouts).toHaveLength(model.payouts.size);
  for (const row of payouts) {
    const payout = model.payouts.get(row.id);
    expect([row.status, row.amount, row.sequence, row.history], row.id).toEqual([
      payout?.status,
      String(payout?.amount),
      payout?.sequence,
      payout?.history.join('>'),
    ]);
  }
}

describe('randomized ledger and payouts', () => {
  it(
    `keeps the books over ${STEPS} random steps on ${WORKERS} connections (SEED=${SEED})`,
    async () => {
      const rng = new Random(SEED);
      const model = new Model();
      const tally = new Map<string, number>();
      try {
        for (let done = 0; done < STEPS; done += WORKERS) {
          const touched = new Set<string>();
          const steps = Array.from({ length: Math.min(WORKERS, STEPS - done) }, () => plan(rng, model, touched));
          const outcomes = await Promise.all(steps.map(run));
          for (const o of outcomes) {
            const name = `${o.step.kind} ${o.ok ? 'ok' : (o.error as Error).name}`;
            tally.set(name, (tally.get(name) ?? 0) + 1);
          }
          settle(model, outcomes);
          await verify(model);
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(`Replay with SEED=${SEED} (RANDOM_STEPS=${STEPS}): ${message}`, { cause: error });
      }
      // The run must have exercised both sides: steps that took effect and steps refused.
      const count = (prefix: string) => [...tally].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
      if (STEPS >= 1000) {
        const musts = ['accrue ok', 'accrue InsufficientFundsError', 'create ok', 'create InsufficientFundsError'];
        for (const kind of [...musts, 'transition ok', 'transition InvalidTransitionError']) expect(count(kind), kind).toBeGreaterThan(0);
        const statuses = new Set([...model.payouts.values()].map((p) => p.status));
        expect([...statuses].sort()).toEqual([...PAYOUT_STATUSES].sort());
        expect(model.impliedSteps, 'a RETURNED applied before its PAID').toBeGreaterThan(0);
      }
    },
    Math.max(60_000, STEPS * 60),
  );
});
