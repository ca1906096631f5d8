import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { AccrualResolver } from '../../accruals/accrual.resolver';
import { BalanceResolver } from '../../ledger/balance.resolver';
import { PayoutOperationsResolver, ShopOperationConnectionResolver, ShopOperationsResolver } from '../../operations/operation.resolver';
import { CalendarResolver, PayoutScheduleResolver } from '../../schedules/schedule.resolver';
import {
  ShopConnectionResolver,
  ShopPayoutRunConnectionResolver,
  ShopPayoutRunResolver,
  ShopResolver,
} from '../../shops/shop.resolver';
import { PayoutConnectionResolver, PayoutResolver } from '../../payouts/payout.resolver';
import { PayoutRequestConnectionResolver, PayoutRequestResolver } from '../../requests/payout-request.resolver';
import { DeadLetterResolver } from '../kafka/dead-letter.resolver';

export const resolvers = [
  PayoutResolver,
  PayoutConnectionResolver,
  BalanceResolver,
  AccrualResolver,
  DeadLetterResolver,
  PayoutRequestResolver,
  PayoutRequestConnectionResolver,
  ShopResolver,
  ShopConnectionResolver,
  ShopPayoutRunResolver,
  ShopPayoutRunConnectionResolver,
  ShopOperationsResolver,
  PayoutOperationsResolver,
  ShopOperationConnectionResolver,
  CalendarResolver,
  PayoutScheduleResolver,
] as const;

let built: Promise<GraphQLSchema> | null = null;

/** The schema is built once per process; type-graphql metadata is global anyway. */
export function graphqlSchema(): Promise<GraphQLSchema> {
  built ??= buildSchema({ resolvers, validate: false, emitSchemaFile: false });
  return built;
}
