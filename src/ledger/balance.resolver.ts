import { Arg, Authorized, Ctx, Field, ObjectType, Query, Resolver } from 'type-graphql';
import { PayeeInput } from '../access/graphql';
import { parsePayee, payeeId } from '../access/payee';
import { Access } from '../access/rules';
import { Money } from '../platform/graphql/common-types';
import type { GraphQLContext } from '../platform/graphql/context';
import { Cost } from '../platform/graphql/cost';
import type { LedgerServices } from './services';

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

/** A payee's accounts: a few types (payout, payout-reserved, payout-sent…) per currency it holds, this many for the cost limit. */
const MAX_PAYEE_ACCOUNTS = 50;

@Resolver()
export class BalanceResolver {
  constructor(private readonly services: LedgerServices) {}

  @Authorized(Access.seesPayee((args: { payee: PayeeInput }) => parsePayee(args.payee)))
  @Cost({ maxItems: MAX_PAYEE_ACCOUNTS })
  @Query(() => [AccountBalance], { description: 'A payee’s balances per account type and currency' })
  async balances(@Arg('payee', () => PayeeInput) input: PayeeInput, @Ctx() ctx: GraphQLContext): Promise<AccountBalance[]> {
    const payee = parsePayee(input);
    const accounts = await this.services.ledger.accountsOf(ctx.em, { kind: payee.kind, id: payeeId(payee) });
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
