import { InvalidInputError } from '../platform/errors';

/** The payment systems a park can take money through (contracts.md). */
export const PAYMENT_SYSTEMS = [
  'QIWI',
  'QIWI_MD',
  'QIWI_QVP',
  'PAYSTACK',
  'ELECSNET',
  'TELLCELL',
  'IDRAM',
  'EASYPAY',
  'MOBILNIK',
  'UZPAYNET',
  'CITY24',
  'TBC',
] as const;
export type PaymentSystem = (typeof PAYMENT_SYSTEMS)[number];

/** A credential field: secret ones are only ever shown masked; others (an expiry, a service id) are shown. */
interface FieldSpec {
  secret: boolean;
  kind: 'text' | 'date' | 'pem';
  required: boolean;
  /** An API key's last 4 characters help tell two apart; a password's are never shown. */
  showTail?: boolean;
}

const secret = (required = true): FieldSpec => ({ secret: true, kind: 'text', required, showTail: true });
const password = (required = true): FieldSpec => ({ secret: true, kind: 'text', required });
const pem = (required = true): FieldSpec => ({ secret: true, kind: 'pem', required });
const plain = (required = true): FieldSpec => ({ secret: false, kind: 'text', required });
const date = (): FieldSpec => ({ secret: false, kind: 'date', required: true });

/**
 * The credentials each system's protocol needs (payment-systems.md). OSMP-style terminal networks
 * authenticate by source address and the link's secret, so they need none; a provider id may be
 * kept for reconciliation.
 */
export const CREDENTIAL_FIELDS: Record<PaymentSystem, Record<string, FieldSpec>> = {
  // P2P bills: the secret key, issued for a year.
  QIWI: { secretKey: secret(), expiresAt: date() },
  QIWI_MD: { providerId: plain(false) },
  QIWI_QVP: { providerId: plain(false) },
  MOBILNIK: { providerId: plain(false) },
  ELECSNET: { providerId: plain(false) },
  TBC: { serviceId: plain(false) },
  // Webhook HMAC-SHA512 and the API's bearer: one secret key.
  PAYSTACK: { secretKey: secret() },
  // Telcell Money: shop key for the MD5 checksum, issuer id.
  TELLCELL: { issuerId: plain(), shopKey: secret() },
  // Idram: EDP_REC_ACCOUNT and the secret key of EDP_CHECKSUM.
  IDRAM: { recAccount: plain(), secretKey: secret() },
  // EasySoft provider v3.1: their public key checks requests, ours signs answers.
  EASYPAY: { serviceId: plain(), providerPublicKey: pem(), ourPrivateKey: pem() },
  // SOAP username and password in every call.
  UZPAYNET: { serviceId: plain(false), username: plain(), password: password() },
  CITY24: { login: plain(), password: password() },
};

export type Credentials = Record<string, string>;

export function parsePaymentSystem(value: unknown): PaymentSystem {
  if (!PAYMENT_SYSTEMS.includes(value as PaymentSystem)) {
    throw new InvalidInputError(`paymentSystem must be one of ${PAYMENT_SYSTEMS.join(', ')}`, { field: 'paymentSystem' });
  }
  return value as PaymentSystem;
}

/**
 * Validates a wallet's credentials for its system. Messages name the field and what is wrong,
 * never the value (it may be a secret).
 */
export function validateCredentials(system: PaymentSystem, value: unknown): Credentials {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError('credentials must be a JSON object', { field: 'credentials' });
  }
  const fields = CREDENTIAL_FIELDS[system];
  const input = value as Record<string, unknown>;
  const unknown = Object.keys(input).filter((key) => !(key in fields));
  if (unknown.length > 0) {
    const allowed = Object.keys(fields);
    throw new InvalidInputError(
      `credentials of ${system} take ${allowed.length ? allowed.join(', ') : 'no fields'}; not ${unknown.map((k) => k.slice(0, 40)).join(', ')}`,
      { field: 'credentials' },
    );
  }
  const result: Credentials = {};
  for (const [name, spec] of Object.entries(fields)) {
    const field = `credentials.${name}`;
    const raw = input[name];
    if (raw === undefined || raw === null || raw === '') {
      if (spec.required) throw new InvalidInputError(`${field} is required for ${system}`, { field });
      continue;
    }
    if (typeof raw !== 'string') throw new InvalidInputError(`${field} must be a string`, { field });
    const max = spec.kind === 'pem' ? 16_384 : 1024;
    if (raw.length > max || raw.trim() !== raw) throw new InvalidInputError(`${field} must be at most ${max} characters without surrounding spaces`, { field });
    if (spec.kind === 'date' && !/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(raw)) {
      throw new InvalidInputError(`${field} must be an ISO 8601 date or instant`, { field });
    }
    if (spec.kind === 'date' && Number.isNaN(new Date(raw).getTime())) throw new InvalidInputError(`${field} is not a real date`, { field });
    if (spec.kind === 'pem' && !/^-----BEGIN [A-Z ]+-----[\s\S]+-----END [A-Z ]+-----$/.test(raw)) {
      throw new InvalidInputError(`${field} must be a PEM key`, { field });
    }
    if (spec.secret && spec.kind === 'text' && raw.length < 8) throw new InvalidInputError(`${field} must be at least 8 characters`, { field });
    result[name] = raw;
  }
  return result;
}

/**
 * What the API may show of credentials: their non-secret fields as they are, each secret as
 * `••••` and, for an API key of 16 characters or more, its last 4 (enough to tell two keys apart,
 * far too little to use).
 */
export function credentialsHint(system: PaymentSystem, credentials: Credentials): string {
  const parts: string[] = [];
  for (const [name, spec] of Object.entries(CREDENTIAL_FIELDS[system])) {
    const value = credentials[name];
    if (value === undefined) continue;
    if (!spec.secret) parts.push(`${name}=${value}`);
    else if (spec.showTail && value.length >= 16) parts.push(`${name}=••••${value.slice(-4)}`);
    else parts.push(`${name}=••••`);
  }
  return parts.join(', ');
}

/** When the credentials stop working, for systems whose keys expire (QIWI's, yearly). */
export function credentialsExpireAt(system: PaymentSystem, credentials: Credentials): Date | null {
  return system === 'QIWI' && credentials.expiresAt ? new Date(credentials.expiresAt) : null;
}
