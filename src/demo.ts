import type { App } from './app';
import { checkLedger } from './ledger/invariants';
import { TokenService } from './platform/auth';
import { payeeRef, type Payee } from './platform/payee';

/**
 * Sample data for a newcomer: three payees get earnings, then payouts walk the lifecycle
 * (paid, rejected and returned, cancelled, still waiting). Safe to run twice: every step is keyed.
 */
export async function runDemo(app: App, print: (line: string) => void): Promise<void> {
  const payees: Payee[] = [
    { kind: 'CLIENT', id: 'demo-client-1' },
    { kind: 'CLIENT', id: 'demo-client-2' },
    { kind: 'PARK', id: 'demo-park-1' },
  ];
  const em = app.orm.em.fork();
  for (const [i, payee] of payees.entries()) {
    await em.transactional((tx) =>
      app.accruals.apply(
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
    print(`accrued ${(i + 1) * 1500} RUB to ${payeeRef(payee)}`);
  }

  const steps: Record<string, ('SENT' | 'ACCEPTED' | 'PAID' | 'REJECTED' | 'RETURNED' | 'CANCELLED')[]> = {
    'demo-client-1': ['SENT', 'ACCEPTED', 'PAID'],
    'demo-client-2': ['SENT', 'REJECTED'],
    'demo-park-1': ['CANCELLED'],
  };
  for (const payee of payees) {
    const id = payee.kind === 'SHOP' ? payee.shopId : payee.id;
    const { payout } = await em.transactional((tx) =>
      app.payouts.create(tx, {
        payee,
        amount: 100_000n,
        currency: 'RUB',
        source: 'MANUAL',
        idempotencyKey: `demo:${id}`,
        actor: 'demo',
      }),
    );
    for (const status of steps[id] ?? []) {
      await em.transactional((tx) => app.payouts.transition(tx, payout.id, status, { actor: 'demo', reason: 'demo' }));
    }
    print(`payout ${payout.id} for ${payeeRef(payee)}: CREATED → ${(steps[id] ?? []).join(' → ') || '(waiting)'}`);
  }

  const violations = await checkLedger(em);
  print(violations.length === 0 ? 'ledger check: ok' : `ledger check: ${violations.length} violation(s)`);
  const token = new TokenService(app.settings.JWT_SECRET).sign({ subject: 'demo-admin', role: 'admin', ttl: '12h' });
  print('');
  print('Try it (with `npm start` running):');
  print(
    `curl -s localhost:${app.settings.PORT}/graphql -H 'content-type: application/json' -H 'authorization: Bearer ${token}' ` +
      `-d '{"query":"{ payouts(first: 10) { totalCount nodes { id status source amount { amount currency } payee { kind id } statusHistory { status } } } }"}'`,
  );
}
