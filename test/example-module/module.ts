import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import { ledgerModule } from '../../src/ledger/module';
import { setting } from '../../src/platform/config';
import { InvalidInputError } from '../../src/platform/errors';
import { bookAtStart } from '../../src/platform/jobs';
import { defineModule } from '../../src/platform/modules';
import { ExampleResolver } from './example.resolver';
import { exampleLoaders } from './loaders';
import { Greeter, type ExampleServices } from './services';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      example__greet: { name?: string };
    }
  }
}

/**
 * The "how to add a module" of docs/architecture.md, followed once: a folder with a module.ts,
 * and a line in a module list (the test's, not the product's). It owns no table and moves no
 * money; it touches every part a descriptor can bring, so the test sees each reach the process.
 */
export const exampleModule = defineModule({
  name: 'example',
  requires: [ledgerModule],
  settings: z.object({
    EXAMPLE_GREETING: z.string().max(40).default('hello'),
    EXAMPLE_BROKEN_BOOKS: setting.flag.default(false),
  }),
  metrics: (registry: Registry) => ({
    greetings: new Counter({ name: 'payouts_example_greetings_total', help: 'Greetings the example module gave', registers: [registry] }),
  }),
  create: ({ settings, metrics, use }): ExampleServices => {
    use(ledgerModule); // a required module's services are there to use
    return { greeter: new Greeter(settings.EXAMPLE_GREETING, metrics.greetings), batches: [], applied: [], ran: [] };
  },
  resolvers: [ExampleResolver],
  loaders: ({ services }) => exampleLoaders(services),
  inbound: ({ services }) => [
    {
      topic: 'example.events',
      parse(json) {
        if (typeof json.name !== 'string') throw new InvalidInputError('name must be a string', { field: 'name' });
        return json.name;
      },
      async apply(_em, name: string) {
        services.applied.push(name);
      },
    },
  ],
  outboundTopics: () => ['example.out'],
  tasks: ({ services }) => ({
    example__greet: async (payload) => {
      services.ran.push(payload);
    },
  }),
  cron: () => [{ pattern: '0 * * * *', task: 'example__greet', comment: 'The example greets every hour.' }],
  startupJobs: () => [bookAtStart('example__greet')],
  scrape: ({ metrics }) => async () => {
    metrics.greetings.inc(0); // a gauge would be refreshed from the database here
  },
  invariants: ({ settings }) => [
    { rule: 'example: the books are not broken', violations: async () => (settings.EXAMPLE_BROKEN_BOOKS ? [{ broken: true }] : []) },
  ],
});
