import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { AccrualResolver } from '../../accruals/accrual.resolver';
import { BalanceResolver } from '../../ledger/balance.resolver';
import { PayoutOperationsResolver, ShopOperationsResolver } from '../../operations/operation.resolver';
import { CalendarResolver, PayoutScheduleResolver } from '../../schedules/schedule.resolver';
import {
  ShopPayoutRunResolver,
  ShopResolver,
} from '../../shops/shop.resolver';
import { PayoutResolver } from '../../payouts/payout.resolver';
import { PayoutRequestResolver } from '../../requests/payout-request.resolver';
import { DeadLetterResolver } from '../kafka/dead-letter.resolver';

export const resolvers = [
  PayoutResolver,
  BalanceResolver,
  AccrualResolver,
  DeadLetterResolver,
  PayoutRequestResolver,
  ShopResolver,
  ShopPayoutRunResolver,
  ShopOperationsResolver,
  PayoutOperationsResolver,
  CalendarResolver,
  PayoutScheduleResolver,
] as const;

let built: Promise<GraphQLSchema> | null = null;

/** The schema is built once per process; type-graphql metadata is global anyway. */
export function graphqlSchema(): Promise<GraphQLSchema> {
  built ??= buildSchema({ resolvers, validate: false, emitSchemaFile: false });
  return built;
}
