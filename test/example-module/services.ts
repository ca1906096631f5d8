import type { Counter } from 'prom-client';

/** An empty module's only "domain": it greets, and keeps what it saw for the test to read. */
export class Greeter {
  constructor(
    private readonly greeting: string,
    private readonly greetings: Counter,
  ) {}

  greet(name: string): string {
    return `${this.greeting}, ${name}`;
  }

  count(): void {
    this.greetings.inc();
  }
}

export interface ExampleServices {
  greeter: Greeter;
  /** Names each loader batch asked for. */
  batches: string[][];
  /** Names the inbound handler applied, and payloads the task ran with. */
  applied: string[];
  ran: unknown[];
}
