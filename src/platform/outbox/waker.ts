import { Client } from 'pg';
import type { Logger } from '../logger';

/**
 * Listens for the outbox trigger's NOTIFY and asks for a publisher run, at most once per
 * `debounceMs`, so messages leave within milliseconds of their commit without polling.
 */
export class OutboxWaker {
  private client: Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly wake: () => Promise<void>,
    private readonly logger: Logger,
    private readonly debounceMs = 10,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    const client = new Client({ connectionString: this.databaseUrl });
    client.on('notification', () => this.schedule());
    client.on('error', (err) => {
      this.logger.warn({ err }, 'outbox listener lost its connection; reconnecting');
      this.client = null;
      if (!this.stopped) setTimeout(() => void this.start().catch(() => undefined), 1000).unref();
    });
    await client.connect();
    await client.query('LISTEN outbox');
    this.client = client;
    this.schedule(); // publish whatever waited while nobody listened
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.wake().catch((err) => this.logger.warn({ err }, 'could not enqueue the outbox publisher'));
    }, this.debounceMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }
}
