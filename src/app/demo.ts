import { payeeRef, type Payee } from '../access/payee';
import { claimsPolicy } from '../access/principals';
import { accrualsModule } from '../accruals/module';
import { operationsModule } from '../operations/module';
import { parseOperation } from '../operations/operation';
import { payoutsModule } from '../payouts/module';
import { TokenService } from '../platform/auth';
import { schedulesModule } from '../schedules/module';
import { shopsModule } from '../shops/module';
import type { App } from './app';

/**
 * Sample data for a newcomer: three payees get earnings, then payouts walk the lifecycle
 * (paid, rejected and returned, cancelled, still waiting). Safe to run twice: every step is keyed,
 * and each line says whether it applied something or found it already there.
 */
export async function runDemo(app: App, print: (line: string) => void): Promise<void> {
  const payees: Payee[] = [
    { kind: 'CLIENT', id: 'demo-client-1' },
    { kind: 'CLIENT', id: 'demo-client-2' },
    { kind: 'PARK', id: 'demo-park-1' },
  ];
  const em = app.orm.em.fork();
  const { accruals } = app.use(accrualsModule);
  const { lifecycle } = app.use(payoutsModule);
  let applied = 0;
  for (const [i, payee] of payees.entries()) {
    const accrued = await em.transactional((tx) =>
      accruals.apply(
        tx,
        {
          payee,
          account: 'payout',
          amount: BigInt((i + 1) * 150_000),
          currency: 'RUB',
          reference: 'demo-earnings',
          occurredAt: new Date(),
          reason: 'demo earnings',
        },
        'MANUAL',
      ),
    );
    if (accrued.created) applied += 1;
    print(`${accrued.created ? 'accrued' : 'already accrued:'} ${(i + 1) * 1500} RUB to ${payeeRef(payee)}`);
  }

  const steps: Record<string, ('SENT' | 'ACCEPTED' | 'PAID' | 'REJECTED' | 'RETURNED' | 'CANCELLED')[]> = {
    'demo-client-1': ['SENT', 'ACCEPTED', 'PAID'],
    'demo-client-2': ['SENT', 'REJECTED'],
    'demo-park-1': ['CANCELLED'],
  };
  for (const payee of payees) {
    const id = payee.kind === 'SHOP' ? payee.shopId : payee.id;
    const created = await em.transactional((tx) =>
      lifecycle.create(tx, {
        payee,
        amount: 100_000n,
        currency: 'RUB',
        source: 'MANUAL',
        idempotencyKey: `demo:${id}`,
        actor: 'demo',
      }),
    );
    // Walked step by step, so a run stopped half-way is finished by the next; only steps taken are told.
    const taken: string[] = created.changed ? ['CREATED'] : [];
    let payout = created.payout;
    for (const status of steps[id] ?? []) {
      const step = await em.transactional((tx) => lifecycle.transition(tx, payout.id, status, { actor: 'demo', reason: 'demo' }));
      if (step.changed) taken.push(status);
      payout = step.payout;
    }
    applied += taken.length;
    const walked = taken.length === 0 ? `already there, ${payout.status}` : `${created.changed ? '' : 'already there, then '}${taken.join(' → ')}`;
    print(`payout ${payout.id} for ${payeeRef(payee)}: ${walked}${payout.status === 'CREATED' ? ' (waiting)' : ''}`);
  }

  if (await demoShop(app, print)) applied += 1;
  if (applied === 0) print('nothing new: the demo data was already loaded');

  const violations = await app.checkLedger(em);
  print(violations.length === 0 ? 'ledger check: ok' : `ledger check: ${violations.length} violation(s)`);
  if (!app.settings.JWT_SECRET) {
    print('');
    print('Set JWT_SECRET (or NODE_ENV=development) to get a token for the API: `payouts token --role admin`.');
    return;
  }
  const token = new TokenService(app.settings.JWT_SECRET, claimsPolicy, { maxTtl: app.settings.JWT_MAX_TTL }).sign({ subject: 'demo-admin', role: 'admin', ttl: '12h' });
  print('');
  print('Try it (with `npm start` running):');
  print(
    `curl -s localhost:${app.settings.PORT}/graphql -H 'content-type: application/json' -H 'authorization: Bearer ${token}' ` +
      `-d '{"query":"{ payouts(first: 10) { totalCount nodes { id status source amount { amount currency } payee { kind id } statusHistory { status } } } }"}'`,
  );
  print(
    `curl -s localhost:${app.settings.PORT}/graphql -H 'content-type: application/json' -H 'authorization: Bearer ${token}' ` +
      `-d '{"query":"{ shop(partyId: \\"demo-party\\", shopId: \\"demo-shop\\") { status nextFireAt balance { amount currency } payoutSchedule { cron upcoming { cutoff fireAt } } operations(unpaidOnly: true) { totalCount } } }"}'`,
  );
}

/**
 * A shop on a daily schedule with a Moscow calendar, and a few operations waiting for its first
 * run; all in one transaction, so a shop that exists has them. Tells whether it made the shop.
 */
async function demoShop(app: App, print: (line: string) => void): Promise<boolean> {
  const em = app.orm.em.fork();
  const { schedules } = app.use(schedulesModule);
  const { shops } = app.use(shopsModule);
  const { operations } = app.use(operationsModule);
  const shop = { partyId: 'demo-party', shopId: 'demo-shop' };
  const existing = await shops.find(em, shop);
  if (existing) {
    // Its calendar and schedule are left as they are: upserting them again would re-book the shop.
    print(`shop demo-party/demo-shop: already there, next run ${existing.next_fire_at?.toISOString()} for cut-off ${existing.next_cutoff?.toISOString()}`);
    return false;
  }
  const occurredAt = new Date();
  await em.transactional(async (tx) => {
    await schedules.upsertCalendar(tx, {
      id: 'demo-ru',
      timezone: 'Europe/Moscow',
      holidays: ['2027-01-01', '2027-01-02', '2027-01-03', '2027-01-04', '2027-01-05', '2027-01-06', '2027-01-07', '2027-01-08'],
      weekendDays: [6, 7],
    });
    await schedules.upsertSchedule(tx, { id: 'demo-daily', cron: '0 0 * * *', calendarId: 'demo-ru', delayDays: 1 });
    await shops.apply(tx, {
      type: 'ShopCreated',
      eventId: 'demo-shop-created',
      occurredAt,
      ...shop,
      currency: 'RUB',
      payoutToolId: 'demo-tool',
      payoutScheduleId: 'demo-daily',
    });
    const payment = (paymentId: string, amount: string, fee: string) =>
      parseOperation(`demo-payment-${paymentId}`, {
        type: 'PaymentCaptured',
        occurredAt: occurredAt.toISOString(),
        ...shop,
        invoiceId: 'demo-invoice',
        paymentId,
        amount,
        fee,
        currency: 'RUB',
      });
    await operations.record(tx, [payment('1', '100000', '2500'), payment('2', '50000', '1250')]);
  });
  const row = (await shops.find(em, shop))!;
  print(`shop demo-party/demo-shop: 2 payments (1,462.50 RUB payable), next run ${row.next_fire_at?.toISOString()} for cut-off ${row.next_cutoff?.toISOString()}`);
  return true;
}
