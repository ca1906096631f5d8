import { GraphQLError, GraphQLScalarType, Kind, valueFromASTUntyped } from 'graphql';
import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { Money } from '../platform/graphql/common-types';
import { enumOf } from '../platform/graphql/enums';
import { PAYMENT_SYSTEMS, type PaymentSystem } from './payment-systems';
import type { CallbackLinkRow, WalletRow } from './wallet';

export const PaymentSystemValue = enumOf(PAYMENT_SYSTEMS);
registerEnumType(PaymentSystemValue, { name: 'PaymentSystem', description: 'A payment system parks take drivers’ money through' });

/**
 * A wallet's credentials on input: a JSON object. Unlike a general JSON scalar its errors never
 * echo the value given (it holds secrets), and it is never output.
 */
export const CredentialsScalar = new GraphQLScalarType({
  name: 'WalletCredentials',
  description: 'A JSON object of the payment system’s credential fields (input only; the README lists them per system)',
  serialize: () => {
    throw new GraphQLError('WalletCredentials are never output');
  },
  parseValue: (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new GraphQLError('credentials must be a JSON object');
    return value;
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.OBJECT) throw new GraphQLError('credentials must be a JSON object');
    return valueFromASTUntyped(ast);
  },
});

@ObjectType('CallbackLink', { simpleResolvers: true, description: 'A secret callback link of a wallet; its secret is shown only when issued' })
export class CallbackLinkType {
  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  walletId!: string;

  @Field({ description: 'The first characters of the secret, to tell links apart' })
  prefix!: string;

  @Field()
  createdAt!: Date;

  @Field(() => String, { nullable: true })
  createdBy!: string | null;

  @Field(() => Date, { nullable: true, description: 'When a payment system last called it (to the minute)' })
  lastUsedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'Set: the link is refused from that moment' })
  revokedAt!: Date | null;

  static of(row: CallbackLinkRow): CallbackLinkType {
    return Object.assign(new CallbackLinkType(), {
      id: row.id,
      walletId: row.wallet_id,
      prefix: row.prefix,
      createdAt: row.created_at,
      createdBy: row.created_by,
      lastUsedAt: row.last_used_at,
      revokedAt: row.revoked_at,
    });
  }
}

@ObjectType('IssuedCallbackLink', { simpleResolvers: true, description: 'A new link: its url is shown this once and never again' })
export class IssuedCallbackLinkType {
  @Field({ description: 'CALLBACK_BASE_URL/callbacks/<system>/<secret>: give it to the payment system; it cannot be shown again' })
  url!: string;

  @Field(() => CallbackLinkType)
  link!: CallbackLinkType;
}

@ObjectType('Wallet', { simpleResolvers: true, description: 'A park’s wallet with one payment system; its credentials are never shown' })
export class WalletType {
  @Field(() => ID)
  id!: string;

  @Field()
  parkId!: string;

  @Field(() => PaymentSystemValue)
  paymentSystem!: PaymentSystem;

  @Field()
  title!: string;

  @Field()
  currency!: string;

  @Field({ description: 'A disabled wallet takes no top-ups' })
  enabled!: boolean;

  @Field(() => Money, { nullable: true, description: 'The least one top-up may be' })
  minAmount!: Money | null;

  @Field(() => Money, { nullable: true, description: 'The most one top-up may be' })
  maxAmount!: Money | null;

  @Field({ description: 'Whether credentials are stored (they are never returned)' })
  credentialsSet!: boolean;

  @Field(() => String, { nullable: true, description: 'The credentials masked: non-secret fields, and at most the last 4 characters of a long secret' })
  credentialsHint!: string | null;

  @Field(() => Date, { nullable: true, description: 'When the credentials expire (QIWI keys, yearly)' })
  credentialsExpireAt!: Date | null;

  @Field({ description: 'True once the credentials have expired: the wallet takes no top-ups from the Pro app until new ones are set' })
  credentialsExpired!: boolean;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;

  @Field(() => Date, { nullable: true })
  deletedAt!: Date | null;

  static of(row: WalletRow): WalletType {
    // A deleted wallet's key may be kept a little while, only to close the top-ups still open with it: it is not set for anything else.
    const usable = row.credentials_sealed !== null && row.deleted_at === null;
    return Object.assign(new WalletType(), {
      id: row.id,
      parkId: row.park_id,
      paymentSystem: row.payment_system,
      title: row.title,
      currency: row.currency,
      enabled: row.enabled,
      minAmount: row.min_amount === null ? null : Money.of(row.min_amount, row.currency),
      maxAmount: row.max_amount === null ? null : Money.of(row.max_amount, row.currency),
      credentialsSet: usable,
      credentialsHint: usable ? row.credentials_hint : null,
      credentialsExpireAt: usable ? row.credentials_expire_at : null,
      credentialsExpired: usable && row.credentials_expire_at !== null && row.credentials_expire_at.getTime() <= Date.now(),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      deletedAt: row.deleted_at,
    });
  }
}

@InputType({ description: 'A new wallet for a park' })
export class CreateWalletInput {
  @Field()
  parkId!: string;

  @Field(() => PaymentSystemValue)
  paymentSystem!: PaymentSystem;

  @Field()
  title!: string;

  @Field()
  currency!: string;

  @Field(() => CredentialsScalar, { nullable: true, description: 'The system’s credential fields; validated, then stored encrypted' })
  credentials?: unknown;

  @Field(() => Boolean, { nullable: true, defaultValue: true })
  enabled?: boolean;

  @Field(() => String, { nullable: true, description: 'Minor units' })
  minAmount?: string | null;

  @Field(() => String, { nullable: true, description: 'Minor units' })
  maxAmount?: string | null;
}

@InputType({ description: 'Changes to a wallet; fields left out keep their value' })
export class UpdateWalletInput {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true })
  title?: string | null;

  @Field(() => Boolean, { nullable: true })
  enabled?: boolean | null;

  @Field(() => CredentialsScalar, { nullable: true, description: 'Replaces the credentials; null removes them' })
  credentials?: unknown;

  @Field(() => String, { nullable: true, description: 'Minor units; null removes the bound' })
  minAmount?: string | null;

  @Field(() => String, { nullable: true, description: 'Minor units; null removes the bound' })
  maxAmount?: string | null;
}
