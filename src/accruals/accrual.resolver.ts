import { Arg, Authorized, Ctx, Field, InputType, Mutation, ObjectType, Resolver } from 'type-graphql';
import { PayeeInput } from '../access/graphql';
import { actorOf } from '../access/principals';
import { Access } from '../access/rules';
import { InvalidInputError } from '../platform/errors';
import { Money } from '../platform/graphql/common-types';
import type { GraphQLContext } from '../platform/graphql/context';
import { parseAccrual, type AccrualService } from './accrual.service';

@InputType({ description: 'A manual correction of a payee’s balance' })
export class AccrualInput {
  @Field(() => PayeeInput, { description: 'A CLIENT or PARK' })
  payee!: PayeeInput;

  @Field({ defaultValue: 'payout', description: 'The account type to credit or debit' })
  account!: string;

  @Field({ description: 'Minor units as a string of digits; negative debits the account' })
  amount!: string;

  @Field()
  currency!: string;

  @Field({ description: 'Applied once per payee: the same reference again changes nothing' })
  reference!: string;

  @Field({ description: 'Why the correction is made; kept with it' })
  reason!: string;
}

@ObjectType()
export class AccrualResult {
  @Field({ description: 'The ledger transfer that made the change' })
  transferId!: string;

  @Field({ description: 'False when this reference had been applied already' })
  applied!: boolean;

  @Field(() => Money)
  amount!: Money;
}

@Resolver()
export class AccrualResolver {
  constructor(private readonly services: { accruals: AccrualService }) {}

  @Authorized(Access.roles('admin'))
  @Mutation(() => AccrualResult, { description: 'Admin: credit or debit a payee’s account by hand, with a reason' })
  async recordAccrual(@Arg('input', () => AccrualInput) input: AccrualInput, @Ctx() ctx: GraphQLContext): Promise<AccrualResult> {
    const reason = input.reason.trim();
    if (reason.length < 3 || reason.length > 1000) {
      throw new InvalidInputError('reason must be 3–1000 characters', { field: 'reason' });
    }
    const accrual = parseAccrual({ ...input, payee: { ...input.payee } });
    const applied = await ctx.em.transactional((em) =>
      this.services.accruals.apply(
        em,
        { ...accrual, occurredAt: new Date(), reason, actor: actorOf(ctx.principal) },
        'MANUAL',
      ),
    );
    return Object.assign(new AccrualResult(), {
      transferId: applied.transferId,
      applied: applied.created,
      amount: Money.of(accrual.amount, accrual.currency),
    });
  }
}
