import { Arg, Authorized, Ctx, Field, ID, Int, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import { Access } from '../access/rules';
import { ConflictError, InvalidInputError } from '../platform/errors';
import type { GraphQLContext } from '../platform/graphql/context';
import { pageSize } from '../platform/graphql/pagination';
import type { DeadLetter } from '../platform/kafka/dead-letter.entity';
import { isDeadLetterId, type DeadLetterService } from '../platform/kafka/dead-letters';


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

  @Field(() => Date, { nullable: true, description: 'When it was applied again' })
  resolvedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'When it was set aside for good, never to be applied' })
  discardedAt!: Date | null;

  @Field(() => String, { nullable: true, description: 'Who discarded it: a token subject, or `cli:` and the operator' })
  discardedBy!: string | null;

  @Field(() => String, { nullable: true, description: 'Why it was discarded' })
  discardReason!: string | null;

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
      discardedAt: d.discardedAt ?? null,
      discardedBy: d.discardedBy ?? null,
      discardReason: d.discardReason ?? null,
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

  @Field({ description: 'applied, duplicate, dead-lettered (still failing), already-resolved or discarded (not retried)' })
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
  })
  async deadLetters(
    @Ctx() ctx: GraphQLContext,
    @Arg('topic', () => String, { nullable: true }) topic?: string,
    @Arg('includeResolved', { defaultValue: false, description: 'Also those applied again or discarded' }) includeResolved?: boolean,
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
  async retryDeadLetter(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<DeadLetterRetry> {
    if (!isDeadLetterId(id)) throw new InvalidInputError('id is not a dead letter id', { field: 'id' });
    const result = await this.services.deadLetters.retry(id, ctx.em);
    return Object.assign(new DeadLetterRetry(), result);
  }

  @Authorized(Access.roles('admin'))
  @Mutation(() => DeadLetterType, {
    description: 'Admin: set a dead letter aside for good, with a reason; who, when and why stay on it. Discarding it again changes nothing',
  })
  async discardDeadLetter(
    @Ctx() ctx: GraphQLContext,
    @Arg('id', () => ID) id: string,
    @Arg('reason', { description: 'Why it will never be applied' }) reason: string,
  ): Promise<DeadLetterType> {
    if (!isDeadLetterId(id)) throw new InvalidInputError('id is not a dead letter id', { field: 'id' });
    const result = await this.services.deadLetters.discard(id, { by: ctx.principal.subject, reason }, ctx.em);
    if (result.outcome === 'already-resolved') throw new ConflictError(`Dead letter ${id} was applied; there is nothing to discard`, { id });
    return DeadLetterType.of(await this.services.deadLetters.get(ctx.em, id));
  }
}
