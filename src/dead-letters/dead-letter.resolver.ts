import { Arg, Authorized, Ctx, Field, ID, Int, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import { Access } from '../access/rules';
import { InvalidInputError } from '../platform/errors';
import type { GraphQLContext } from '../platform/graphql/context';
import { pageComplexity, pageSize } from '../platform/graphql/pagination';
import type { DeadLetter } from '../platform/kafka/dead-letter.entity';
import type { DeadLetterService } from '../platform/kafka/dead-letters';

/** Dead letters have bigint ids: digits that PostgreSQL's bigint can hold. */
function isDeadLetterId(text: string): boolean {
  return /^\d{1,19}$/.test(text) && BigInt(text) <= 9_223_372_036_854_775_807n;
}

@ObjectType('DeadLetter', { description: 'An inbound message that could not be applied' })
export class DeadLetterType {
  @Field(() => ID)
  id!: string;

  @Field()
  topic!: string;

  @Field(() => Int, { nullable: true })
  partition!: number | null;

  @Field(() => String, { nullable: true })
  offset!: string | null;

  @Field(() => String, { nullable: true })
  key!: string | null;

  @Field({ description: 'The message as it arrived' })
  value!: string;

  @Field()
  reason!: string;

  @Field()
  errorCode!: string;

  @Field(() => Int)
  attempts!: number;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  resolvedAt!: Date | null;

  static of(d: DeadLetter): DeadLetterType {
    return Object.assign(new DeadLetterType(), {
      id: d.id,
      topic: d.topic,
      partition: d.partition ?? null,
      offset: d.offset ?? null,
      key: d.key ?? null,
      value: d.value,
      reason: d.reason,
      errorCode: d.errorCode,
      attempts: d.attempts,
      createdAt: d.createdAt,
      resolvedAt: d.resolvedAt ?? null,
    });
  }
}

@ObjectType()
export class DeadLetterPage {
  @Field(() => [DeadLetterType])
  nodes!: DeadLetterType[];

  @Field()
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true, description: 'Pass as `after` for the next page' })
  endCursor!: string | null;
}

@ObjectType()
export class DeadLetterRetry {
  @Field(() => ID)
  id!: string;

  @Field({ description: 'applied, duplicate, dead-lettered (still failing) or already-resolved' })
  outcome!: string;

  @Field(() => String, { nullable: true })
  reason!: string | null;
}

@Resolver()
export class DeadLetterResolver {
  constructor(private readonly services: { deadLetters: DeadLetterService }) {}

  @Authorized(Access.roles('admin'))
  @Query(() => DeadLetterPage, {
    description: 'Admin: dead letters, oldest first',
    complexity: pageComplexity,
  })
  async deadLetters(
    @Ctx() ctx: GraphQLContext,
    @Arg('topic', () => String, { nullable: true }) topic?: string,
    @Arg('includeResolved', { defaultValue: false }) includeResolved?: boolean,
    @Arg('first', () => Int, { nullable: true }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<DeadLetterPage> {
    if (after && !isDeadLetterId(after)) throw new InvalidInputError('after is not a cursor this API returned');
    const page = await this.services.deadLetters.list(ctx.em, { topic, includeResolved, first: pageSize(first), afterId: after });
    return Object.assign(new DeadLetterPage(), {
      nodes: page.rows.map(DeadLetterType.of),
      hasNextPage: page.hasNextPage,
      endCursor: page.rows[page.rows.length - 1]?.id ?? null,
    });
  }

  @Authorized(Access.roles('admin'))
  @Mutation(() => DeadLetterRetry, { description: 'Admin: apply a dead letter again after its cause is fixed' })
  async retryDeadLetter(@Arg('id', () => ID) id: string): Promise<DeadLetterRetry> {
    if (!isDeadLetterId(id)) throw new InvalidInputError('id is not a dead letter id', { field: 'id' });
    const result = await this.services.deadLetters.retry(id);
    return Object.assign(new DeadLetterRetry(), result);
  }
}
