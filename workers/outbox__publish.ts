import type { Task } from 'graphile-worker';
import type { App } from '../src/app';

/** Publishes what committed transactions left in the outbox. Woken by NOTIFY, and by cron as a backstop. */
export default function outboxPublish(app: App): Task {
  return async (_payload, helpers) => {
    const published = await app.outbox.drain();
    if (published > 0) helpers.logger.debug(`published ${published} outbox messages`);
  };
}
