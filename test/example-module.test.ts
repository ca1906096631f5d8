import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAppSettings } from '../src/app/app';
import { MODULES } from '../src/app/modules';
import { ConfigError } from '../src/platform/config';
import { exampleModule } from './example-module/module';
import { startTestServer, tokenFor, type TestServer } from './helpers/app';
import { errorCodes, graphql } from './helpers/graphql';

/**
 * docs/architecture.md's "how to add a module", followed once: test/example-module is a folder
 * with a module.ts, and the list below is the module list with one line more. Each part the
 * descriptor brings must reach the process without any other file knowing of it.
 */
const WITH_EXAMPLE = [...MODULES, exampleModule];

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({}, { modules: WITH_EXAMPLE, env: { EXAMPLE_GREETING: 'hi' } });
});
afterAll(async () => server?.close());

const services = () => server.app.use(exampleModule);

describe('a module added by a folder and one line', () => {
  it('is not part of the product', () => {
    expect(MODULES).not.toContain(exampleModule);
  });

  it('brings its GraphQL operation, its access rule and its loader (two aliases, one batch)', async () => {
    const query = '{ a: exampleGreeting(name: "Ann") b: exampleGreeting(name: "Bo") }';
    const answer = await graphql(server.url, query, undefined, tokenFor('admin'));
    expect(answer.errors).toBeUndefined();
    expect(answer.data).toEqual({ a: 'hi, Ann', b: 'hi, Bo' });
    expect(services().batches).toEqual([['Ann', 'Bo']]);

    const refused = await graphql(server.url, query, undefined, tokenFor('driver', [{ kind: 'CLIENT', id: 'c1' }]));
    expect(refused.data).toBeNull();
    expect(new Set(errorCodes(refused))).toEqual(new Set(['FORBIDDEN']));
  });

  it('brings its settings slice, validated with everyone else’s', () => {
    expect(server.app.settingsOf(exampleModule)).toEqual({ EXAMPLE_GREETING: 'hi', EXAMPLE_BROKEN_BOOKS: false });
    expect(() => loadAppSettings({ EXAMPLE_GREETING: 'x'.repeat(41), PORT: 'eighty' }, WITH_EXAMPLE)).toThrow(ConfigError);
    expect(() => loadAppSettings({ EXAMPLE_GREETING: 'x'.repeat(41), PORT: 'eighty' }, WITH_EXAMPLE)).toThrow(/EXAMPLE_GREETING[\s\S]*PORT|PORT[\s\S]*EXAMPLE_GREETING/);
  });

  it('brings its inbound topic: a message on it is applied once, a bad one is a dead letter', async () => {
    expect(server.app.inbound.topics()).toContain('example.events');
    const message = (offset: string, value: string) => ({ topic: 'example.events', partition: 0, offset, key: null, value });
    const outcomes = await server.app.inbound.processBatch(
      [message('1', '{"eventId":"ex-1","name":"Cy"}'), message('2', '{"eventId":"ex-1","name":"Cy"}'), message('3', '{"eventId":"ex-2"}')],
      'KAFKA',
    );
    expect(outcomes).toEqual(['applied', 'duplicate', 'dead-lettered']);
    expect(services().applied).toEqual(['Cy']);
  });

  it('brings its task, its crontab line and its start-up job to the worker', async () => {
    const { taskList, crontab, startupJobs } = server.app.worker;
    expect(Object.keys(taskList)).toContain('example__greet');
    expect(crontab).toContain('# The example greets every hour.\n0 * * * * example__greet\n');
    expect(startupJobs).toContainEqual({ task: 'example__greet', jobKey: 'example__greet' });
    await taskList.example__greet!({ name: 'Di' }, undefined as never);
    expect(services().ran).toEqual([{ name: 'Di' }]);
  });

  it('brings its metrics to /metrics', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/^payouts_example_greetings_total [1-9]/m);
  });

  it('brings its part of the ledger check', async () => {
    expect(await server.app.checkLedger()).toEqual([]);
    const broken = await startTestServer({}, { modules: WITH_EXAMPLE, env: { EXAMPLE_BROKEN_BOOKS: 'true' } });
    try {
      expect(await broken.app.checkLedger()).toEqual([{ rule: 'example: the books are not broken', detail: '{"broken":true}' }]);
    } finally {
      await broken.close();
    }
  });
});
