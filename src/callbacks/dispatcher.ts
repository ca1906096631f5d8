import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { CallbackAnswer, CallbackRequest, PaymentSystemAdapter } from '../payment-systems/adapter';
import type { Logger } from '../platform/logger';
import type { TopUps } from '../topups/topups';
import type { CallbackLinks } from '../wallets/callback-links';
import { BatchesFullError } from '../platform/statement-batches';
import { PAYMENT_SYSTEMS, type PaymentSystem } from '../wallets/payment-systems';
import type { WalletService } from '../wallets/wallet.service';
import { AllowList } from './allow-list';
import { bindCore } from './core';
import type { CallbackMetrics } from './metrics';
import { TokenBuckets } from './token-buckets';
import { allowedIpsSetting, type CallbackSettings } from './settings';

export interface CallbackServices {
  orm: MikroORM;
  links: CallbackLinks;
  wallets: WalletService;
  topups: TopUps;
}

/**
 * Takes one callback from the path's payment system to its answer: the source address against the
 * system's allow-list, the rate limits, the link's secret to its wallet, then the adapter with the
 * core bound to that wallet. Whatever fails on our side becomes the protocol's "temporary error"
 * and a logged error; the caller never sees why, and an unknown, revoked or foreign secret is
 * answered exactly as a bad address is: the adapter's refusal without a core.
 */
export class CallbackDispatcher {
  private readonly bySegment = new Map<string, PaymentSystemAdapter>();
  private readonly allowLists = new Map<PaymentSystem, AllowList>();
  private readonly perAddress: TokenBuckets;
  private readonly perLink: TokenBuckets;
  /** When the last "too many payments wait" warning was logged (one a second at most). */
  private overloadLoggedAt = 0;

  constructor(
    adapters: Partial<Record<PaymentSystem, PaymentSystemAdapter>>,
    private readonly services: CallbackServices,
    private readonly settings: CallbackSettings,
    private readonly metrics: CallbackMetrics,
    private readonly logger: Logger,
  ) {
    for (const [system, adapter] of Object.entries(adapters)) this.bySegment.set(system.toLowerCase(), adapter);
    for (const system of PAYMENT_SYSTEMS) {
      const list = settings[allowedIpsSetting(system)];
      if (list) this.allowLists.set(system, new AllowList(list));
    }
    this.perAddress = new TokenBuckets(settings.CALLBACK_RATE_PER_ADDRESS);
    this.perLink = new TokenBuckets(settings.CALLBACK_RATE_PER_LINK);
  }

  /** The adapter serving a path segment (`qiwi_md`), or null: the server answers 404. */
  adapterFor(segment: string): PaymentSystemAdapter | null {
    return this.bySegment.get(segment) ?? null;
  }

  async answer(adapter: PaymentSystemAdapter, secret: string, request: CallbackRequest): Promise<CallbackAnswer> {
    const system = adapter.system;
    const refused = (code: string) => {
      this.metrics.refusals.inc({ payment_system: system, code });
      this.logger.info({ paymentSystem: system, clientAddress: request.clientAddress, code }, 'callback refused');
    };
    try {
      const allowList = this.allowLists.get(system);
      if (allowList && !allowList.allows(request.clientAddress)) {
        refused('ADDRESS_NOT_ALLOWED');
        return await adapter.handle(request, null);
      }
      if (!this.perAddress.take(request.clientAddress)) {
        refused('RATE_LIMITED');
        return adapter.transientFailure(request);
      }
      return await this.withDeadline(adapter, request, async () => {
        // One EntityManager per callback, made only if something needs it: a kept link and a new payment do not.
        let forked: EntityManager | undefined;
        const em = () => (forked ??= this.services.orm.em.fork());
        const resolved = this.services.links.kept(system, secret) ?? (await this.services.links.resolve(em(), system, secret));
        if (!resolved) {
          refused('UNKNOWN_LINK');
          return adapter.handle(request, null);
        }
        if (!this.perLink.take(resolved.link.id)) {
          refused('RATE_LIMITED');
          return adapter.transientFailure(request);
        }
        const answer = await adapter.handle(request, bindCore(em, resolved.wallet, this.services, this.metrics));
        if (answer.refusal) this.metrics.refusals.inc({ payment_system: system, code: answer.refusal });
        return answer;
      });
    } catch (error) {
      if (error instanceof BatchesFullError) {
        // The database is not keeping up: counted per caller, logged at most once a second (no stack per caller).
        this.metrics.refusals.inc({ payment_system: system, code: 'OVERLOADED' });
        if (Date.now() - this.overloadLoggedAt >= 1000) {
          this.overloadLoggedAt = Date.now();
          this.logger.warn({ paymentSystem: system, problem: error.message }, 'callbacks refused: too many payments wait for the database');
        }
        return adapter.transientFailure(request);
      }
      // Never the secret, the body or the credentials: the system, the caller, the error.
      this.metrics.refusals.inc({ payment_system: system, code: 'ERROR' });
      this.logger.error({ err: error, paymentSystem: system, clientAddress: request.clientAddress }, 'callback failed');
      return adapter.transientFailure(request);
    }
  }

  /** The answer, or the protocol's "temporary error" once CALLBACK_ANSWER_TIMEOUT has passed (the work may still finish: a retry then finds it). */
  private async withDeadline(adapter: PaymentSystemAdapter, request: CallbackRequest, work: () => Promise<CallbackAnswer>): Promise<CallbackAnswer> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<CallbackAnswer>((resolve) => {
      timer = setTimeout(() => {
        this.metrics.refusals.inc({ payment_system: adapter.system, code: 'TIMEOUT' });
        this.logger.warn({ paymentSystem: adapter.system, clientAddress: request.clientAddress }, 'callback answer timed out');
        resolve(adapter.transientFailure(request));
      }, this.settings.CALLBACK_ANSWER_TIMEOUT);
    });
    try {
      return await Promise.race([work(), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
