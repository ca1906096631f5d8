import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Local stand-ins for the payment systems' HTTP APIs we call (they are third parties: the one
 * place a stand-in is right). Each follows the published API as payment-systems.md cites it —
 * paths, bearer authentication, field names, statuses and error answers — and lets a test play
 * the payer (pay, reject, expire) and the outage (answer 503 or drop the connection for a while).
 */
abstract class StandIn {
  readonly requests: { method: string; path: string; authorization: string | undefined; body: unknown }[] = [];
  private server: Server | null = null;
  private downUntil = 0;
  private downMode: 'http503' | 'drop' = 'http503';
  private held: { method: string; pathEnd?: string; answerFirst?: boolean; until: Promise<void> } | null = null;
  url = '';

  constructor(protected readonly secretKeys: Set<string>) {}

  async start(): Promise<this> {
    this.server = createServer((request, response) => void this.receive(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /**
   * The next request of this method (and path ending, if given) waits, recorded, until the returned
   * function is called; with `answerFirst` its answer is made on arrival and only sent then (the
   * answer a slow network delivers late), else it is made on release (a slow server).
   */
  holdNext(method: string, options: { pathEnd?: string; answerFirst?: boolean } = {}): () => void {
    let release!: () => void;
    this.held = { method, ...options, until: new Promise<void>((resolve) => (release = resolve)) };
    return release;
  }

  /** A key the API takes from now on, or no longer takes (revoked, expired). */
  allowKey(key: string): void {
    this.secretKeys.add(key);
  }

  refuseKey(key: string): void {
    this.secretKeys.delete(key);
  }

  /** For `ms`, every request fails: HTTP 503, or the connection is dropped without an answer. */
  down(ms: number, mode: 'http503' | 'drop' = 'http503'): void {
    this.downUntil = Date.now() + ms;
    this.downMode = mode;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** `token`: the caller's key, one the API takes. */
  protected abstract route(method: string, path: string, body: unknown, token: string): { status: number; body: unknown };

  private async receive(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      body = raw;
    }
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    this.requests.push({ method: request.method ?? '', path, authorization: request.headers.authorization, body });
    const held = this.held && this.held.method === request.method && (!this.held.pathEnd || path.endsWith(this.held.pathEnd)) ? this.held : null;
    if (held) this.held = null;
    if (held && !held.answerFirst) await held.until;
    if (Date.now() < this.downUntil) {
      if (this.downMode === 'drop') {
        request.socket.destroy();
        return;
      }
      return send(response, 503, { message: 'Service Unavailable' });
    }
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (!token || !this.secretKeys.has(token)) return send(response, 401, this.unauthorized());
    const answer = this.route(request.method ?? '', path, body, token);
    if (held?.answerFirst) await held.until;
    send(response, answer.status, answer.body);
  }

  protected abstract unauthorized(): unknown;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

export interface QiwiBill {
  billId: string;
  amount: { currency: string; value: string };
  status: { value: 'WAITING' | 'PAID' | 'REJECTED' | 'EXPIRED'; changedDateTime: string };
  expirationDateTime: string;
  payUrl: string;
  customFields?: Record<string, string>;
}

/**
 * QIWI P2P bills API [S9]: PUT/GET /partner/bill/v1/bills/{billId}, POST …/{billId}/reject. A bill
 * belongs to the account whose key created it: another account's key does not find it (404). The
 * keys given at the start are one account's.
 */
export class QiwiBillsStandIn extends StandIn {
  readonly bills = new Map<string, QiwiBill>();
  private readonly accountOfKey = new Map<string, string>();
  private readonly accountOfBill = new Map<string, string>();

  constructor(secretKeys: string[]) {
    super(new Set(secretKeys));
    for (const key of secretKeys) this.accountOfKey.set(key, 'main');
  }

  /** A key of another QIWI account than the first keys' (its bills its own). */
  allowAccountKey(key: string, account: string): void {
    this.allowKey(key);
    this.accountOfKey.set(key, account);
  }

  /** The payer pays the bill (optionally another amount than billed, as a broken or forged answer would say). */
  pay(billId: string, value?: string): void {
    const bill = this.bills.get(billId)!;
    bill.status = { value: 'PAID', changedDateTime: new Date().toISOString() };
    if (value) bill.amount.value = value;
  }

  setStatus(billId: string, value: QiwiBill['status']['value']): void {
    this.bills.get(billId)!.status = { value, changedDateTime: new Date().toISOString() };
  }

  protected unauthorized(): unknown {
    return { serviceName: 'invoicing-api', errorCode: 'auth.unauthorized', description: 'Invalid token', userMessage: 'Invalid token' };
  }

  protected route(method: string, path: string, body: unknown, token: string): { status: number; body: unknown } {
    const match = /^\/partner\/bill\/v1\/bills\/([^/]+)(\/reject)?$/.exec(path);
    if (!match) return { status: 404, body: { errorCode: 'not.found' } };
    const billId = decodeURIComponent(match[1]!);
    const account = this.accountOfKey.get(token) ?? 'main';
    const bill = this.accountOfBill.get(billId) === account ? this.bills.get(billId) : undefined;
    if (method === 'PUT' && !match[2]) {
      const input = body as { amount?: { currency?: unknown; value?: unknown }; expirationDateTime?: unknown } | null;
      const value = input?.amount?.value;
      const currency = input?.amount?.currency;
      const expiry = input?.expirationDateTime;
      if (typeof value !== 'string' || !/^\d+\.\d{2}$/.test(value) || (currency !== 'RUB' && currency !== 'KZT') || typeof expiry !== 'string' || !/[+-]\d{2}:\d{2}$/.test(expiry)) {
        return { status: 400, body: { errorCode: 'validation.error', description: 'Validation error' } };
      }
      if (bill) return { status: 200, body: bill };
      const created: QiwiBill = {
        billId,
        amount: { currency, value },
        status: { value: 'WAITING', changedDateTime: new Date().toISOString() },
        expirationDateTime: expiry,
        payUrl: `https://oplata.qiwi.com/form/?invoice_uid=${randomUUID()}`,
        customFields: (body as { customFields?: Record<string, string> }).customFields,
      };
      this.bills.set(billId, created);
      this.accountOfBill.set(billId, account);
      return { status: 200, body: created };
    }
    if (!bill) return { status: 404, body: { errorCode: 'invoice.not.found', description: 'Invoice not found' } };
    if (method === 'GET' && !match[2]) return { status: 200, body: bill };
    if (method === 'POST' && match[2]) {
      if (bill.status.value !== 'WAITING') return { status: 400, body: { errorCode: 'invoice.already.finished', description: 'Invoice is in a final status' } };
      this.setStatus(billId, 'REJECTED');
      return { status: 200, body: bill };
    }
    return { status: 405, body: { errorCode: 'method.not.allowed' } };
  }
}

export interface PaystackTransaction {
  reference: string;
  amount: number;
  currency: string;
  email: string;
  metadata: Record<string, unknown>;
  status: 'abandoned' | 'success' | 'failed';
  paid_at: string | null;
}

/** Paystack's transactions API [S21][S22]: POST /transaction/initialize, GET /transaction/verify/{reference}. */
export class PaystackStandIn extends StandIn {
  readonly transactions = new Map<string, PaystackTransaction>();

  constructor(secretKeys: string[]) {
    super(new Set(secretKeys));
  }

  protected unauthorized(): unknown {
    return { status: false, message: 'Invalid key' };
  }

  protected route(method: string, path: string, body: unknown): { status: number; body: unknown } {
    if (method === 'POST' && path === '/transaction/initialize') {
      const input = body as { email?: unknown; amount?: unknown; reference?: unknown; currency?: unknown; metadata?: unknown } | null;
      const amount = typeof input?.amount === 'string' && /^\d+$/.test(input.amount) ? Number(input.amount) : input?.amount;
      if (typeof input?.email !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(input.email)) return { status: 400, body: { status: false, message: 'Invalid Email Address Passed' } };
      if (typeof amount !== 'number' || !Number.isInteger(amount) || amount <= 0) return { status: 400, body: { status: false, message: 'Invalid Amount Sent' } };
      const reference = typeof input.reference === 'string' ? input.reference : randomUUID();
      if (this.transactions.has(reference)) return { status: 400, body: { status: false, message: 'Duplicate Transaction Reference' } };
      this.transactions.set(reference, {
        reference,
        amount,
        currency: typeof input.currency === 'string' ? input.currency : 'NGN',
        email: input.email,
        metadata: (input.metadata ?? {}) as Record<string, unknown>,
        status: 'abandoned',
        paid_at: null,
      });
      const code = randomUUID().slice(0, 12);
      return { status: 200, body: { status: true, message: 'Authorization URL created', data: { authorization_url: `https://checkout.paystack.com/${code}`, access_code: code, reference } } };
    }
    const verify = /^\/transaction\/verify\/([^/]+)$/.exec(path);
    if (method === 'GET' && verify) {
      const transaction = this.transactions.get(decodeURIComponent(verify[1]!));
      if (!transaction) return { status: 400, body: { status: false, message: 'Transaction reference not found' } };
      return { status: 200, body: { status: true, message: 'Verification successful', data: { id: 1, ...transaction } } };
    }
    return { status: 404, body: { status: false, message: 'Not found' } };
  }

  /** The customer pays: the transaction succeeds, and the `charge.success` webhook body Paystack would send is returned. */
  pay(reference: string): string {
    const transaction = this.transactions.get(reference)!;
    transaction.status = 'success';
    transaction.paid_at = new Date().toISOString();
    return chargeSuccess({ reference, amount: transaction.amount, currency: transaction.currency, metadata: transaction.metadata });
  }
}

/** A `charge.success` event as Paystack posts it (the sample in [S22], trimmed). */
export function chargeSuccess(data: { reference: string; amount: number | string; currency: string; metadata?: unknown }): string {
  return JSON.stringify({
    event: 'charge.success',
    data: {
      id: 302961,
      domain: 'live',
      status: 'success',
      reference: data.reference,
      amount: data.amount,
      message: null,
      gateway_response: 'Approved by Financial Institution',
      paid_at: new Date().toISOString(),
      created_at: new Date().toISOString(),
      channel: 'card',
      currency: data.currency,
      ip_address: '41.242.49.37',
      metadata: data.metadata ?? 0,
      fees: null,
      customer: { id: 68324, first_name: 'BoJack', last_name: 'Horseman', email: 'bojack@horseman.com', customer_code: 'CUS_qo38as2hpsgk2r0', phone: null },
      authorization: { authorization_code: 'AUTH_f5rnfq9p', bin: '539999', last4: '8877', exp_month: '08', exp_year: '2030', channel: 'card', card_type: 'mastercard DEBIT' },
    },
  });
}

/** `x-paystack-signature`: hex HMAC-SHA512 of the raw body under the secret key. */
export function paystackSignature(body: string, secretKey: string): string {
  return createHmac('sha512', secretKey).update(body).digest('hex');
}
