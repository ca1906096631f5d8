import type { Logger } from './logger';

export interface BoundedRefreshOptions {
  /** The least time from the start of one refresh to the start of the next (0: every scrape refreshes). */
  minIntervalMs: number;
  /** Where a failed refresh is reported. */
  logger: Pick<Logger, 'warn'>;
  /** The clock, in milliseconds (a test's own). */
  now?: () => number;
}

/**
 * Bounds the database reads behind the gauges (`App.scrape`) however often `/metrics` is asked
 * for: it is served without authentication on every port, the callback server's internet-facing
 * one too, and each refresh is a round of counting queries, so anyone who can reach a port could
 * otherwise load the database at will. At most one refresh starts per `minIntervalMs`; a scrape
 * within the interval serves the gauges as last refreshed, and scrapes while a refresh runs wait
 * for that one rather than starting their own. A failed refresh is logged once (its gauges keep
 * their last values) and counts as the interval's attempt: the next one runs after the interval.
 * The returned function never rejects.
 */
export function boundedRefresh(refresh: () => Promise<void>, options: BoundedRefreshOptions): () => Promise<void> {
  const now = options.now ?? (() => performance.now());
  let lastStarted = -Infinity;
  let inFlight: Promise<void> | null = null;

  const run = async (): Promise<void> => {
    try {
      await refresh();
    } catch (err) {
      options.logger.warn({ err }, 'metrics refresh failed');
    }
  };

  return () => {
    if (inFlight) return inFlight;
    if (now() - lastStarted < options.minIntervalMs) return Promise.resolve();
    lastStarted = now();
    // Cleared in a callback, so after this assignment even when `refresh` throws at once.
    inFlight = run().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
}
