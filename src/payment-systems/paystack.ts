import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CallbackAnswer, CallbackCore, CallbackRequest, PaymentSystemAdapter } from './adapter';
import { parseMinorInteger } from './amounts';
import { isAccount, isExternalId } from './identifiers';

/**
 * Paystack's webhook (payment-systems.md, "Paystack"; documented [S21][S22]): a POST of JSON
 * `{event, data}` signed with `x-paystack-signature`, the hex HMAC-SHA512 of the raw body under the
 * wallet's secret key. A `charge.success` with `data.status` `success` credits `data.amount`
 * (integer kobo / pesewas) in `data.currency` to the driver `data.metadata.driverId` names (a
 * driver id or phone, contracts.md), once per `data.reference`:
 * - a top-up the driver started (createTopUp) is found by its reference and credited if Paystack
 *   reports what was asked;
 * - a payment we did not start is accepted like any callback, for the driver its metadata names;
 *   a `driverId` missing or not an account (`isAccount`, as every adapter checks) is answered as
 *   an unknown driver, before the core: nothing is recorded.
 *
 * Paystack reads only the HTTP status: 200 stops its retries (3 min × 4, then hourly for 72 h).
 * So: 401 for an unknown or revoked link and a missing or wrong signature (nothing credited);
 * 400 for a signed body we cannot read (no retry will fix it, but it must not look accepted);
 * 200 for everything read and decided, credited or not, with a small JSON saying which; 503 when
 * our side failed, so Paystack tries again. Events other than `charge.success` are acknowledged.
 */
export const paystackAdapter: PaymentSystemAdapter = {
  system: 'PAYSTACK',

  async handle(request: CallbackRequest, core: CallbackCore | null): Promise<CallbackAnswer> {
    if (!core) return json(401, { status: 'unauthorized' });
    const secretKey = core.credentials()?.secretKey;
    if (!secretKey || !signedBy(request, secretKey)) return json(401, { status: 'unauthorized' }, 'BAD_SIGNATURE');
    if (request.method !== 'POST') return json(400, { status: 'bad_request', message: 'a webhook is a POST' }, 'BAD_REQUEST');

    const event = parseEvent(request.body);
    if (!event) return json(400, { status: 'bad_request', message: 'the body is not a Paystack event' }, 'BAD_REQUEST');
    if (event.event !== 'charge.success' || event.data.status !== 'success') return json(200, { status: 'ignored' });

    // Ours are `topup-<uuid>`; Paystack's own are alphanumeric with `-`, `.`, `=`.
    const reference = event.data.reference;
    if (typeof reference !== 'string' || !isExternalId(reference)) return json(400, { status: 'bad_request', message: 'data.reference is missing or malformed' }, 'BAD_REQUEST');
    const amount = parseMinorInteger(event.data.amount as string | number | undefined);
    if (!amount.ok) return json(400, { status: 'bad_request', message: `data.amount is ${amount.problem.toLowerCase().replace('_', ' ')}` }, 'BAD_AMOUNT');
    if (event.data.currency !== core.wallet.currency) return json(200, { status: 'refused', reason: 'CURRENCY_MISMATCH' }, 'FOREIGN_CURRENCY');

    // Ours name the driver in their metadata too; a reference we opened is matched whatever it says.
    const known = await core.find(reference);
    const account = known?.driver_id ?? driverIdOf(event.data.metadata);
    if (!account) return json(200, { status: 'refused', reason: 'UNKNOWN_DRIVER' }, 'BAD_ACCOUNT');

    const result = await core.pay(reference, account, amount.minor);
    if (!result.transaction) return json(200, { status: 'refused', reason: result.refusal ?? 'UNKNOWN_DRIVER' });
    if (!result.created) return json(200, { status: 'duplicate' });
    if (result.transaction.status === 'REJECTED') return json(200, { status: 'refused', reason: result.transaction.reason });
    return json(200, { status: 'accepted' });
  },

  transientFailure(): CallbackAnswer {
    return json(503, { status: 'retry' });
  },
};

const SIGNATURE = /^[0-9a-f]{128}$/i;

function signedBy(request: CallbackRequest, secretKey: string): boolean {
  const given = request.headers['x-paystack-signature'];
  if (typeof given !== 'string' || !SIGNATURE.test(given)) return false;
  const expected = createHmac('sha512', secretKey).update(request.body).digest();
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}

interface PaystackEvent {
  event: string;
  data: { status?: unknown; reference?: unknown; amount?: unknown; currency?: unknown; metadata?: unknown };
}

function parseEvent(body: Buffer): PaystackEvent | null {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return null;
    const { event, data } = parsed as { event?: unknown; data?: unknown };
    if (typeof event !== 'string' || typeof data !== 'object' || data === null) return null;
    return { event, data: data as PaystackEvent['data'] };
  } catch {
    return null;
  }
}

/**
 * `metadata.driverId` when it is an account (`isAccount`), else null; Paystack passes metadata
 * through as given, an object or a JSON string. Anyone with a checkout can put anything there.
 */
function driverIdOf(metadata: unknown): string | null {
  let value = metadata;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      return null;
    }
  }
  const driverId = (value as { driverId?: unknown } | null)?.driverId;
  return typeof driverId === 'string' && isAccount(driverId) ? driverId : null;
}

/** `refusal`: why we refused before the core could, for the metrics (never sent). */
function json(status: number, body: Record<string, unknown>, refusal?: string): CallbackAnswer {
  return { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(body), ...(refusal ? { refusal } : {}) };
}
