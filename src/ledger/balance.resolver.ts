import { Arg, Ctx, Field, ObjectType, Query, Resolver } from 'type-graphql';
import { assertCanSee } from '../platform/auth';
import { Money, PayeeInput } from '../platform/graphql/common-types';
import type { GraphQLContext } from '../platform/graphql/context';
import { parsePayee, payeeId } from '../platform/payee';

@ObjectType({ simpleResolvers: true, description: 'The balance of one of a payee’s accounts' })
export class AccountBalance {
  @Field({ description: '"payout" is available for payouts; "payout-reserved" is held by CREATED payouts; "payout-sent" is in flight' })
  accountType!: string;

  @Field()
  currency!: string;

  @Field(() => Money)
  balance!: Money;

  @Field({ description: 'The ledger account id' })
  accountId!: string;
}

@Resolver()
export class BalanceResolver {
  @Query(() => [AccountBalance], { description: 'A payee’s balances per account type and currency' })
  async balances(@Arg('payee', () => PayeeInput) input: PayeeInput, @Ctx() ctx: GraphQLContext): Promise<AccountBalance[]> {
    const payee = parsePayee(input);
    assertCanSee(ctx.principal, payee);
    const accounts = await ctx.app.ledger.accountsOf(ctx.em, { kind: payee.kind, id: payeeId(payee) });
    return accounts.map((a) =>
      Object.assign(new AccountBalance(), {
        accountType: a.type,
        currency: a.currency.trim(),
        balance: Money.of(a.balance, a.currency),
        accountId: a.id,
      }),
    );
  }
}
