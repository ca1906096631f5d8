import { Arg, Authorized, Ctx, Mutation, Resolver } from 'type-graphql';
import { scopedPayees } from '../access/principals';
import { Access } from '../access/rules';
import { ForbiddenError, InvalidInputError } from '../platform/errors';
import type { GraphQLContext } from '../platform/graphql/context';
import { parsePositiveMinor } from '../platform/money';
import type { ProTopUps } from './pro-topups';
import { TopUpInput, TopUpType } from './topup.types';

@Resolver()
export class TopUpResolver {
  constructor(private readonly services: { proTopUps: ProTopUps }) {}

  @Authorized(Access.roles('driver'))
  @Mutation(() => TopUpType, {
    description:
      'Driver (Pro app): tops up the driver’s own balance through the park’s enabled wallet of the payment system and returns where to pay. ' +
      'NOT_FOUND: the park has no usable wallet of that system; FORBIDDEN: the driver or park may not take top-ups now; BAD_USER_INPUT: the amount is out of the wallet’s bounds',
  })
  async createTopUp(@Arg('input', () => TopUpInput) input: TopUpInput, @Ctx() ctx: GraphQLContext): Promise<TopUpType> {
    const drivers = scopedPayees(ctx.principal, 'DRIVER');
    if (drivers.length !== 1 || drivers[0]!.kind !== 'DRIVER') throw new ForbiddenError('A driver token names exactly one driver');
    const ref = drivers[0]!.id;
    const key = input.idempotencyKey;
    if (typeof key !== 'string' || key.length === 0 || key.length > 200) {
      throw new InvalidInputError('idempotencyKey must be 1–200 characters', { field: 'idempotencyKey' });
    }
    const parkId = ref.slice(0, ref.indexOf('/'));
    ctx.targets.add(`PARK:${parkId}`, `DRIVER:${ref}`);
    const result = await this.services.proTopUps.create({
      parkId,
      driverId: ref.slice(ref.indexOf('/') + 1),
      paymentSystem: input.paymentSystem,
      amount: parsePositiveMinor(input.amount),
      idempotencyKey: key,
    });
    return TopUpType.of(result);
  }
}
