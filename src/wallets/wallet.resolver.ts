import { Arg, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { checkReference } from '../access/payee';
import { actorOf, assertCanSee } from '../access/principals';
import { Access } from '../access/rules';
import { isUuid } from '../platform/ids';
import { InvalidInputError, NotFoundError } from '../platform/errors';
import type { GraphQLContext } from '../platform/graphql/context';
import { Cost } from '../platform/graphql/cost';
import { parseCurrency, parsePositiveMinor } from '../platform/money';
import type { CallbackLinks } from './callback-links';
import { walletLinksLoader } from './loaders';
import { PAYMENT_SYSTEMS, parsePaymentSystem } from './payment-systems';
import type { WalletRow } from './wallet';
import type { WalletService } from './wallet.service';
import { CallbackLinkType, CreateWalletInput, IssuedCallbackLinkType, UpdateWalletInput, WalletType } from './wallet.types';

export interface WalletResolverServices {
  wallets: WalletService;
  links: CallbackLinks;
  onChange?: (what: 'created' | 'deleted' | 'link-issued' | 'link-revoked') => void;
}

const parkOf = (args: { parkId: string }) => ({ kind: 'PARK' as const, id: checkReference(args.parkId, 'parkId') });
const inputParkOf = (args: { input: { parkId: string } }) => parkOf(args.input);
/** How many of a wallet's links its list shows (revoked ones pile up over the years). */
const LINKS_SHOWN = 20;

/** Dispatchers of the wallet's park and admins; the park is checked once the wallet is read. */
const WALLET_KEEPERS = Access.all(Access.roles('admin', 'dispatcher'), Access.withinScopes);

function uuid(value: string, field: string): string {
  if (!isUuid(value)) throw new InvalidInputError(`${field} must be an id this API returned`, { field });
  return value;
}

function title(value: string): string {
  const trimmed = value.trim();
  if (trimmed === '' || trimmed.length > 200) throw new InvalidInputError('title must be 1–200 characters', { field: 'title' });
  return trimmed;
}

const bound = (value: string | null | undefined, field: string) =>
  value === undefined ? undefined : value === null ? null : parsePositiveMinor(value, field);

@Resolver(() => WalletType)
export class WalletResolver {
  constructor(private readonly services: WalletResolverServices) {}

  /** The wallet an id names, if the caller may keep it (FORBIDDEN for another park's). */
  private async walletFor(ctx: GraphQLContext, id: string, options: { lock?: boolean } = {}): Promise<WalletRow> {
    const wallet = await this.services.wallets.find(ctx.em, uuid(id, 'id'), options);
    if (!wallet) throw new NotFoundError(`Unknown wallet ${id}`, { field: 'id' });
    assertCanSee(ctx.principal, { kind: 'PARK', id: wallet.park_id });
    return wallet;
  }

  @Authorized(Access.all(Access.roles('admin', 'dispatcher'), Access.seesPayee(parkOf)))
  // One live wallet per payment system (a unique index keeps it so).
  @Cost({ maxItems: PAYMENT_SYSTEMS.length })
  @Query(() => [WalletType], { description: 'A park’s wallets (not deleted), oldest first' })
  async wallets(@Arg('parkId') parkId: string, @Ctx() ctx: GraphQLContext): Promise<WalletType[]> {
    return (await this.services.wallets.list(ctx.em, parkId)).map(WalletType.of);
  }

  @Authorized(Access.all(Access.roles('admin', 'dispatcher'), Access.seesPayee(inputParkOf)))
  @Mutation(() => WalletType, { description: 'Adds a wallet to a park (one per payment system); credentials are validated per system and stored encrypted' })
  async createWallet(@Arg('input', () => CreateWalletInput) input: CreateWalletInput, @Ctx() ctx: GraphQLContext): Promise<WalletType> {
    const row = await ctx.em.transactional((em) =>
      this.services.wallets.create(
        em,
        {
          parkId: input.parkId,
          paymentSystem: parsePaymentSystem(input.paymentSystem),
          title: title(input.title),
          currency: parseCurrency(input.currency),
          enabled: input.enabled ?? true,
          minAmount: bound(input.minAmount, 'minAmount') ?? null,
          maxAmount: bound(input.maxAmount, 'maxAmount') ?? null,
          credentials: input.credentials,
        },
        actorOf(ctx.principal),
      ),
    );
    this.services.onChange?.('created');
    return WalletType.of(row);
  }

  @Authorized(WALLET_KEEPERS)
  @Mutation(() => WalletType, { description: 'Changes a wallet: title, enabled, bounds, credentials (replaced whole; null removes them)' })
  async updateWallet(@Arg('input', () => UpdateWalletInput) input: UpdateWalletInput, @Ctx() ctx: GraphQLContext): Promise<WalletType> {
    const row = await ctx.em.transactional(async (em) => {
      const wallet = await this.walletFor({ ...ctx, em }, input.id, { lock: true });
      return this.services.wallets.update(
        em,
        {
          id: wallet.id,
          title: input.title === undefined || input.title === null ? undefined : title(input.title),
          enabled: input.enabled ?? undefined,
          minAmount: bound(input.minAmount, 'minAmount'),
          maxAmount: bound(input.maxAmount, 'maxAmount'),
          credentials: input.credentials,
        },
        actorOf(ctx.principal),
      );
    });
    return WalletType.of(row);
  }

  @Authorized(WALLET_KEEPERS)
  @Mutation(() => WalletType, { description: 'Deletes a wallet: its links are revoked, top-ups awaiting payment through it are closed at once, and its credentials erased (after the last of those); its transactions stay' })
  async deleteWallet(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<WalletType> {
    const row = await ctx.em.transactional(async (em) => {
      const wallet = await this.walletFor({ ...ctx, em }, id, { lock: true });
      await this.services.links.revokeAllOf(em, wallet.id, actorOf(ctx.principal));
      return this.services.wallets.delete(em, wallet.id, actorOf(ctx.principal));
    });
    this.services.onChange?.('deleted');
    return WalletType.of(row);
  }

  @Authorized(WALLET_KEEPERS)
  @Mutation(() => IssuedCallbackLinkType, {
    description: 'Makes a new secret callback link for a wallet and revokes its previous one; the url is shown only in this answer',
  })
  async issueCallbackLink(@Arg('walletId', () => ID) walletId: string, @Ctx() ctx: GraphQLContext): Promise<IssuedCallbackLinkType> {
    const issued = await ctx.em.transactional(async (em) => {
      const wallet = await this.walletFor({ ...ctx, em }, walletId, { lock: true });
      return this.services.links.issue(em, wallet, actorOf(ctx.principal));
    });
    this.services.onChange?.('link-issued');
    return Object.assign(new IssuedCallbackLinkType(), { url: issued.url, link: CallbackLinkType.of(issued.link) });
  }

  @Authorized(WALLET_KEEPERS)
  @Mutation(() => CallbackLinkType, { description: 'Revokes a callback link at once' })
  async revokeCallbackLink(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<CallbackLinkType> {
    const link = await ctx.em.transactional(async (em) => {
      const found = await this.services.links.find(em, uuid(id, 'id'));
      if (!found) throw new NotFoundError(`Unknown callback link ${id}`, { field: 'id' });
      const wallet = await this.services.wallets.find(em, found.wallet_id, { withDeleted: true });
      assertCanSee(ctx.principal, { kind: 'PARK', id: wallet!.park_id });
      return this.services.links.revoke(em, found.id, actorOf(ctx.principal));
    });
    this.services.onChange?.('link-revoked');
    return CallbackLinkType.of(link);
  }

  @Cost({ maxItems: LINKS_SHOWN })
  @FieldResolver(() => [CallbackLinkType], { description: `Its latest ${LINKS_SHOWN} callback links, newest first, revoked ones included` })
  async callbackLinks(@Root() wallet: WalletType, @Ctx() ctx: GraphQLContext): Promise<CallbackLinkType[]> {
    return (await ctx.loaders.get(walletLinksLoader).load(wallet.id)).slice(0, LINKS_SHOWN).map(CallbackLinkType.of);
  }
}
