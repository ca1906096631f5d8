import { Arg, Authorized, Ctx, Query, Resolver } from 'type-graphql';
import { Access } from '../../src/access/rules';
import type { GraphQLContext } from '../../src/platform/graphql/context';
import { greetingLoader } from './loaders';
import type { ExampleServices } from './services';

@Resolver()
export class ExampleResolver {
  constructor(private readonly services: ExampleServices) {}

  @Authorized(Access.roles('admin'))
  @Query(() => String, { description: 'The example module’s one operation' })
  async exampleGreeting(@Arg('name') name: string, @Ctx() ctx: GraphQLContext): Promise<string> {
    this.services.greeter.count();
    return ctx.loaders.get(greetingLoader).load(name);
  }
}
