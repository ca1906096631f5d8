import { Field, Int, ObjectType, type ClassType } from 'type-graphql';
import { PageInfo } from './common-types';
import { Cost, QUERY_COST } from './cost';

/**
 * The Relay connection of a node type: `edges`, `nodes`, `pageInfo`, and `totalCount`, which runs
 * its count query only when asked. Extend it with the connection's name:
 * `@ObjectType('PayoutConnection') class PayoutConnection extends ConnectionType(PayoutType, 'PayoutEdge') {}`
 */
export function ConnectionType<TNode extends object>(node: ClassType<TNode>, edgeName: string) {
  @ObjectType(edgeName, { simpleResolvers: true })
  class Edge {
    @Field()
    cursor!: string;

    @Field(() => node)
    node!: TNode;
  }

  @ObjectType({ simpleResolvers: true })
  abstract class Connection {
    @Field(() => [Edge])
    edges!: Edge[];

    @Field(() => [node])
    nodes!: TNode[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;

    /** Set from `toConnection`: counting costs a query, so it runs only when `totalCount` is asked. */
    countQuery!: () => Promise<number>;

    /** A count query over everything matching: dearer than a field, whatever the page size (even 0). */
    @Cost({ cost: QUERY_COST })
    @Field(() => Int, { description: 'Everything matching, over all pages' })
    totalCount(): Promise<number> {
      return this.countQuery();
    }
  }
  return Connection;
}
