import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcess } from '../src/app/processes';
import { sendJobKey } from '../src/mail/mail-queue';
import { mailModule } from '../src/mail/module';
import { NOT_CONFIGURED } from '../src/mail/send-job';
import { parksModule } from '../src/parks/module';
import { walletsModule } from '../src/wallets/module';
import { CreateTopUpDocument, CreateWalletDocument, UpdateWalletDocument, UpsertParkDocument, WalletsDocument } from './generated/graphql';
import { createTestApp, startTestServer, testEnv, tokenFor, type TestServer } from './helpers/app';
import { createTestDatabase } from './helpers/database';
import { errorCodes, graphql } from './helpers/graphql';
import { waitFor } from './helpers/kafka';

/**
 * QIWI key expiry, end to end: the daily task's work, the e-mails it enqueues sent by the worker's
 * generic send job to a real SMTP server this test runs (smtp-server), once per wallet, key and
 * threshold, none after the key is replaced, and the expired wallet shown as such over GraphQL.
 * Each notice points at its message in the mail module's outbox, which says whether the SMTP
 * server took it: not while the server refuses, once when it takes it, and never without SMTP_URL.
 * Two runs of one message's job at once send it once.
 */

interface Received {
  to: string[];
  from: string;
  subject: string;
  raw: string;
}

const DAY = 86_400_000;
const admin = tokenFor('admin');
const dispatcherOf = (parkId: string) => tokenFor('dispatcher', [{ kind: 'PARK', id: parkId }]);

/** RFC 2047 encoded words (nodemailer encodes a subject with quotes in them), adjacent ones joined. */
function decodeWords(header: string): string {
  return header
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?UTF-8\?([QB])\?([^?]*)\?=/gi, (_, encoding: string, text: string) =>
      encoding.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8'),
    );
}

let smtp: SMTPServer;
let server: TestServer;
const inbox: Received[] = [];
/** Recipients the SMTP server turns away once (451: try again later); the next try is not refused. */
const refused = new Set<string>();
/** Recipients the SMTP server turns away every time, for good (550 5.1.1: no such mailbox), with the tries counted. */
const unknownMailboxes = new Map<string, number>();

/** A recipient the SMTP server is slow to take: it holds each try's RCPT unanswered until the test opens it. */
interface Hold {
  /** Tries that reached the server (held, or let through once open). */
  arrived: number;
  open: () => void;
}
const holds = new Map<string, Hold & { opened: Promise<void> }>();
function hold(address: string): Hold {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const held = { arrived: 0, open, opened };
  holds.set(address, held);
  return held;
}

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (refused.delete(address.address)) return callback(Object.assign(new Error('mailbox busy, try again later'), { responseCode: 451 }));
      const unknown = unknownMailboxes.get(address.address);
      if (unknown !== undefined) {
        unknownMailboxes.set(address.address, unknown + 1);
        return callback(Object.assign(new Error('5.1.1 No such mailbox'), { responseCode: 550 }));
      }
      const held = holds.get(address.address);
      if (!held) return callback();
      held.arrived += 1;
      void held.opened.then(() => callback());
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const headers = raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
        inbox.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          subject: decodeWords(/^Subject: (.*)$/m.exec(headers)?.[1] ?? ''),
          raw,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const port = (smtp.server.address() as AddressInfo).port;
  server = await startTestServer(
    { api: true, worker: true },
    { env: { WALLET_KEYS: `k1:${randomBytes(32).toString('base64')}`, SMTP_URL: `smtp://127.0.0.1:${port}`, MAIL_FROM: 'payouts@fleet.example' } },
  );
});
afterAll(async () => {
  // A test that failed with a try held: let it go, or the server's close would wait for it.
  for (const held of holds.values()) held.open();
  await server?.close();
  await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
});

let parks = 0;
async function park(email: string | null): Promise<string> {
  const id = `kx-${++parks}`;
  const response = await graphql(server.url, UpsertParkDocument, { input: { id, name: `Park ${id}`, currency: 'RUB', email, timezone: 'Europe/Moscow', status: 'ACTIVE', reason: 'test' } }, admin);
  expect(response.errors).toBeUndefined();
  return id;
}

async function qiwiWallet(parkId: string, secretKey: string, expiresAt: Date): Promise<string> {
  const response = await graphql(
    server.url,
    CreateWalletDocument,
    { input: { parkId, paymentSystem: 'QIWI', title: 'QIWI main', currency: 'RUB', credentials: { secretKey, expiresAt: expiresAt.toISOString() } } },
    dispatcherOf(parkId),
  );
  expect(response.errors).toBeUndefined();
  return response.data!.createWallet.id;
}

const run = (at: Date) => server.app.use(walletsModule).keyExpiry.run(server.app.orm.em.fork(), at);
const delivery = (emailId: string) => server.app.use(mailModule).mail.delivery(server.app.orm.em.fork(), emailId);
async function noticesOf(walletId: string): Promise<{ threshold_days: number; sent_to: string | null; email_id: string | null }[]> {
  return server.app.orm.em.fork().execute('SELECT threshold_days, sent_to, email_id FROM wallet_key_notice WHERE wallet_id = ? ORDER BY created_at', [walletId]);
}
/** Waits until no job is left under a message's key (sent, or ended for good). */
async function jobDone(emailId: string): Promise<number> {
  const pending = async () =>
    Number((await server.app.orm.em.fork().execute<{ n: string }[]>('SELECT count(*) AS n FROM graphile_worker.jobs WHERE key = ?', [`email__send:${emailId}`]))[0]!.n);
  return waitFor(pending, (n) => n === 0);
}
async function mailCounted(kind: string, result: string): Promise<number> {
  const counted = await server.app.metrics.registry.getSingleMetric('payouts_mail_total')!.get();
  return counted.values.find((v) => v.labels.kind === kind && v.labels.result === result)?.value ?? 0;
}
const mailTo = (address: string) => inbox.filter((m) => m.to.includes(address));
/** Waits for the worker to send what was enqueued, then a little more, so a message too many would show. */
async function settledInbox(address: string, count: number): Promise<Received[]> {
  await waitFor(async () => mailTo(address).length, (n) => n >= count);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  return mailTo(address);
}

describe('QIWI key expiry', () => {
  it('mails the park once per threshold (30, 7, 1 days), then nothing once the key is replaced', async () => {
    const now = new Date();
    const parkId = await park('owner@kx-one.example');
    const walletId = await qiwiWallet(parkId, 'qiwi-old-key-0123456789abcdef', new Date(now.getTime() + 20 * DAY));

    // The daily task through the worker, as the crontab books it.
    await server.app.orm.em.fork().execute(`SELECT graphile_worker.add_job('wallet__key_expiry', '{}'::json)`);
    const first = await settledInbox('owner@kx-one.example', 1);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ from: 'payouts@fleet.example', subject: 'QIWI key of wallet "QIWI main" expires within 30 days' });
    expect(first[0]!.raw).not.toContain('qiwi-old-key');

    expect(await run(now)).toBe(0);
    expect(await run(new Date(now.getTime() + 2 * DAY))).toBe(0);
    expect(await run(new Date(now.getTime() + 14 * DAY))).toBe(1);
    expect(await run(new Date(now.getTime() + 15 * DAY))).toBe(0);
    // Sent before the next is queued: two jobs at once would reach the SMTP server in either order.
    await waitFor(async () => mailTo('owner@kx-one.example').length, (n) => n >= 2);
    expect(await run(new Date(now.getTime() + 19.5 * DAY))).toBe(1);
    const three = await settledInbox('owner@kx-one.example', 3);
    expect(three.map((m) => m.subject)).toEqual([
      'QIWI key of wallet "QIWI main" expires within 30 days',
      'QIWI key of wallet "QIWI main" expires within 7 days',
      'QIWI key of wallet "QIWI main" expires within 1 day',
    ]);

    const replaced = await graphql(
      server.url,
      UpdateWalletDocument,
      { input: { id: walletId, credentials: { secretKey: 'qiwi-new-key-0123456789abcdef', expiresAt: new Date(now.getTime() + 365 * DAY).toISOString() } } },
      dispatcherOf(parkId),
    );
    expect(replaced.errors).toBeUndefined();
    // The old key's expiry passes: the wallet's key is another one now, nothing to say.
    expect(await run(new Date(now.getTime() + 21 * DAY))).toBe(0);
    expect(await run(new Date(now.getTime() + 30 * DAY))).toBe(0);
    expect(await settledInbox('owner@kx-one.example', 3)).toHaveLength(3);
    const notices = await noticesOf(walletId);
    expect(notices).toEqual([30, 7, 1].map((threshold_days) => ({ threshold_days, sent_to: 'owner@kx-one.example', email_id: expect.any(String) })));
    // Each notice's own message, each delivered at the first try.
    expect(new Set(notices.map((n) => n.email_id)).size).toBe(3);
    for (const notice of notices) expect(await delivery(notice.email_id!)).toEqual({ sentAt: expect.any(Date), attempts: 1, lastError: null, givenUpAt: null });
  });

  it('a key given again (re-entered with a near expiry) is a new key: its own warning comes, once', async () => {
    const now = new Date();
    const parkId = await park('owner@kx-two.example');
    const walletId = await qiwiWallet(parkId, 'qiwi-key-a-0123456789abcdef', new Date(now.getTime() + 5 * DAY));
    expect(await run(now)).toBe(1);
    await graphql(
      server.url,
      UpdateWalletDocument,
      { input: { id: walletId, credentials: { secretKey: 'qiwi-key-b-0123456789abcdef', expiresAt: new Date(now.getTime() + 6 * DAY).toISOString() } } },
      dispatcherOf(parkId),
    );
    expect(await run(now)).toBe(1);
    expect(await run(now)).toBe(0);
    expect((await settledInbox('owner@kx-two.example', 2)).map((m) => m.subject)).toEqual([
      'QIWI key of wallet "QIWI main" expires within 7 days',
      'QIWI key of wallet "QIWI main" expires within 7 days',
    ]);
  });

  it('marks an expired wallet for the dispatcher, mails that it expired, and takes no top-up through it', async () => {
    const parkId = await park('owner@kx-three.example');
    await qiwiWallet(parkId, 'qiwi-expired-key-0123456789ab', new Date(Date.now() - 3_600_000));
    const wallets = await graphql(server.url, WalletsDocument, { parkId }, dispatcherOf(parkId));
    expect(wallets.data!.wallets[0]).toMatchObject({ credentialsExpired: true, credentialsSet: true });
    expect(await run(new Date())).toBe(1);
    expect((await settledInbox('owner@kx-three.example', 1)).map((m) => m.subject)).toEqual(['QIWI key of wallet "QIWI main" has expired']);

    const { drivers } = server.app.use(parksModule);
    await server.app.orm.em.fork().transactional((em) => drivers.upsert(em, { parkId, driverId: 'd1', name: 'Driver', phone: null, status: 'WORKING', occurredAt: new Date() }));
    const topUp = await graphql(server.url, CreateTopUpDocument, { input: { paymentSystem: 'QIWI', amount: '1000', idempotencyKey: 'k1' } }, tokenFor('driver', [{ kind: 'DRIVER', id: `${parkId}/d1` }]));
    expect(errorCodes(topUp)).toEqual(['NOT_FOUND']);
  });

  it('a notice mailed while the SMTP server refuses stays unsent, with why; the same job delivers it, once, when the server takes it', async () => {
    const address = 'owner@kx-refused.example';
    // The first try is refused; the server holds the next one (graphile-worker's retry, e^1 s later)
    // until the test has seen what the refusal left, however long that takes (short of SMTP_TIMEOUT,
    // 30 s, after which the held try would give up).
    refused.add(address);
    const retry = hold(address);
    const parkId = await park(address);
    const walletId = await qiwiWallet(parkId, 'qiwi-refused-key-0123456789ab', new Date(Date.now() + 5 * DAY));
    const failedBefore = await mailCounted('qiwi-key-7d', 'failed');
    expect(await run(new Date())).toBe(1);
    const [notice] = await noticesOf(walletId);
    expect(notice).toMatchObject({ threshold_days: 7, sent_to: address, email_id: expect.any(String) });
    const emailId = notice!.email_id!;

    const refusedOnce = await waitFor(() => delivery(emailId), (d) => (d?.attempts ?? 0) >= 1);
    expect(refusedOnce).toEqual({ sentAt: null, attempts: 1, lastError: 'EENVELOPE 451 (temporary)', givenUpAt: null });
    expect(mailTo(address)).toHaveLength(0);
    expect(await mailCounted('qiwi-key-7d', 'failed')).toBe(failedBefore + 1);

    // The same job tries again after graphile-worker's backoff, with days of tries left; the server holds that try.
    expect(await waitFor(async () => retry.arrived, (n) => n >= 1, 20_000)).toBe(1);
    const [job] = await server.app.orm.em
      .fork()
      .execute<{ attempts: number; max_attempts: number; last_error: string | null }[]>('SELECT attempts, max_attempts, last_error FROM graphile_worker.jobs WHERE key = ?', [`email__send:${emailId}`]);
    expect(job).toEqual({ attempts: 2, max_attempts: 25, last_error: expect.stringContaining('EENVELOPE 451 (temporary)') });
    expect(await delivery(emailId)).toEqual(refusedOnce);

    // The server takes it: that try delivers it.
    retry.open();
    const delivered = await waitFor(() => delivery(emailId), (d) => d?.sentAt != null, 20_000);
    expect(delivered).toEqual({ sentAt: expect.any(Date), attempts: 2, lastError: 'EENVELOPE 451 (temporary)', givenUpAt: null });
    expect(await jobDone(emailId)).toBe(0);
    expect((await settledInbox(address, 1)).map((m) => m.subject)).toEqual(['QIWI key of wallet "QIWI main" expires within 7 days']);
  });

  it('a notice the SMTP server refuses for good (no such mailbox) is given up on at once, not retried for days', async () => {
    const address = 'nobody@kx-unknown.example';
    unknownMailboxes.set(address, 0);
    const parkId = await park(address);
    const walletId = await qiwiWallet(parkId, 'qiwi-unknown-key-0123456789ab', new Date(Date.now() + 5 * DAY));
    const refusedBefore = await mailCounted('qiwi-key-7d', 'refused');
    expect(await run(new Date())).toBe(1);
    const emailId = (await noticesOf(walletId))[0]!.email_id!;

    // The job ends after its one try: no job is left to try again.
    expect(await jobDone(emailId)).toBe(0);
    expect(await delivery(emailId)).toEqual({ sentAt: null, attempts: 1, lastError: 'EENVELOPE 550 (permanent)', givenUpAt: expect.any(Date) });
    expect(await mailCounted('qiwi-key-7d', 'refused')).toBe(refusedBefore + 1);
    // Its job booked again (an operator, or a duplicate) tries nothing: the message was given up on.
    await server.app.orm.em.fork().execute(`SELECT graphile_worker.add_job('email__send', json_build_object('id', ?::text), job_key => ?)`, [emailId, `email__send:${emailId}`]);
    expect(await jobDone(emailId)).toBe(0);
    expect(unknownMailboxes.get(address)).toBe(1);
    expect(mailTo(address)).toHaveLength(0);
  });

  it("a message whose job's last attempt fails is given up on, and the row says so", async () => {
    const address = 'owner@kx-last-try.example';
    // The job as graphile-worker hands it over on its 25th and last attempt: the server answers 451 once more.
    refused.add(address);
    const { mail } = server.app.use(mailModule);
    const db = () => server.app.orm.em.fork();
    // Its job removed before it commits, so that only this test's run tries it.
    const emailId = await db().transactional(async (tx) => {
      const id = await mail.enqueue(tx, 'qiwi-key-1d', { to: address, subject: 'QIWI key', text: 'expires' });
      await tx.execute('SELECT graphile_worker.remove_job(?)', [`email__send:${id}`]);
      return id;
    });
    const send = server.app.worker.taskList.email__send!;
    const lastAttempt = { job: { attempts: 25, max_attempts: 25 } } as Parameters<typeof send>[1];
    await expect(send({ id: emailId }, lastAttempt)).rejects.toThrow('EENVELOPE 451 (temporary)');
    expect(await delivery(emailId)).toEqual({ sentAt: null, attempts: 1, lastError: 'EENVELOPE 451 (temporary)', givenUpAt: expect.any(Date) });
    // The server would take it now, but nothing tries any more.
    await send({ id: emailId }, { job: { attempts: 1, max_attempts: 25 } } as Parameters<typeof send>[1]);
    expect(mailTo(address)).toHaveLength(0);
  });

  it('gives up a message whose job died unrecorded (its last attempt failed outside the SMTP try, or the job was removed); not one still to be tried', async () => {
    const { mail } = server.app.use(mailModule);
    const db = () => server.app.orm.em.fork();
    const inAnHour = new Date(Date.now() + 3_600_000);
    // Three messages whose jobs wait an hour, so that only this test decides what becomes of them.
    const [failed, removed, waiting] = await Promise.all(
      ['failed', 'removed', 'waiting'].map((name) =>
        db().transactional(async (tx) => {
          const id = await mail.enqueue(tx, 'qiwi-key-7d', { to: `owner@kx-dead-${name}.example`, subject: 'QIWI key', text: 'expires' });
          await tx.execute(`SELECT graphile_worker.add_job('email__send', json_build_object('id', ?::text), run_at => ?, job_key => ?)`, [id, inAnHour, sendJobKey(id)]);
          return id;
        }),
      ),
    );
    // A worker killed on the job's last attempt leaves it failed for good, as this does; an operator may remove one.
    await db().execute(`SELECT count(*) FROM graphile_worker.permanently_fail_jobs(ARRAY(SELECT id FROM graphile_worker.jobs WHERE key = ?), 'killed')`, [sendJobKey(failed!)]);
    await db().execute('SELECT graphile_worker.remove_job(?)', [sendJobKey(removed!)]);

    expect(await mail.giveUpAbandoned(db())).toBeGreaterThanOrEqual(2);
    for (const id of [failed!, removed!]) expect(await delivery(id)).toEqual({ sentAt: null, attempts: 0, lastError: null, givenUpAt: expect.any(Date) });
    expect(await delivery(waiting!)).toEqual({ sentAt: null, attempts: 0, lastError: null, givenUpAt: null });
    expect(await mail.giveUpAbandoned(db())).toBe(0);
  });

  it('a message whose job runs again after it was sent is not sent again', async () => {
    const address = 'owner@kx-twice.example';
    const parkId = await park(address);
    const walletId = await qiwiWallet(parkId, 'qiwi-twice-key-0123456789abc', new Date(Date.now() + 20 * DAY));
    expect(await run(new Date())).toBe(1);
    const emailId = (await noticesOf(walletId))[0]!.email_id!;
    expect(await settledInbox(address, 1)).toHaveLength(1);
    const first = await waitFor(() => delivery(emailId), (d) => d?.sentAt != null);
    expect(first).toMatchObject({ attempts: 1 });

    // An operator books the message's job again (or a worker died after sending, before completing it).
    await server.app.orm.em.fork().execute(`SELECT graphile_worker.add_job('email__send', json_build_object('id', ?::text), job_key => ?)`, [emailId, `email__send:${emailId}`]);
    expect(await jobDone(emailId)).toBe(0);
    expect(await settledInbox(address, 1)).toHaveLength(1);
    expect(await delivery(emailId)).toEqual(first);
  });

  it('two runs of a message at once (its key booked again while a run holds the job) send it once', async () => {
    const address = 'owner@kx-overlap.example';
    const slow = hold(address);
    const parkId = await park(address);
    const walletId = await qiwiWallet(parkId, 'qiwi-overlap-key-0123456789ab', new Date(Date.now() + 20 * DAY));
    expect(await run(new Date())).toBe(1);
    const emailId = (await noticesOf(walletId))[0]!.email_id!;
    // The job's run has the message at the SMTP server, which has not answered yet.
    expect(await waitFor(async () => slow.arrived, (n) => n >= 1)).toBe(1);

    // Its key booked again meanwhile: graphile-worker detaches the running job and inserts another,
    // which a second run takes at once.
    const db = () => server.app.orm.em.fork();
    const [running] = await db().execute<{ id: string }[]>('SELECT id FROM graphile_worker.jobs WHERE key = ?', [`email__send:${emailId}`]);
    const [booked] = await db().execute<{ id: string }[]>(`SELECT (graphile_worker.add_job('email__send', json_build_object('id', ?::text), job_key => ?)).id`, [
      emailId,
      `email__send:${emailId}`,
    ]);
    expect(booked!.id).not.toBe(running!.id);
    const waitingForRow = async () =>
      Number(
        (
          await db().execute<{ n: string }[]>(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM email_message%FOR UPDATE%'`,
          )
        )[0]!.n,
      );
    // The second run waits for the message's row (or, were nothing holding it, reaches the server too).
    const overlap = await waitFor(
      async () => ({ arrived: slow.arrived, waiting: await waitingForRow() }),
      (o) => o.arrived >= 2 || o.waiting >= 1,
    );

    slow.open();
    const jobsOf = async () => Number((await db().execute<{ n: string }[]>('SELECT count(*) AS n FROM graphile_worker.jobs WHERE id IN (?, ?)', [running!.id, booked!.id]))[0]!.n);
    expect(await waitFor(jobsOf, (n) => n === 0)).toBe(0);
    expect(await settledInbox(address, 1)).toHaveLength(1);
    // The second run never reached the server: it waited for the row, then found the message sent.
    expect(overlap).toEqual({ arrived: 1, waiting: 1 });
    expect(slow.arrived).toBe(1);
    expect(await delivery(emailId)).toEqual({ sentAt: expect.any(Date), attempts: 1, lastError: null, givenUpAt: null });
  });

  it('still sends a job the previous version queued (the message itself in its payload)', async () => {
    const address = 'owner@kx-legacy.example';
    await server.app.orm.em
      .fork()
      .execute(`SELECT graphile_worker.add_job('email__send', ?::json, max_attempts => 10)`, [
        JSON.stringify({ to: address, subject: 'QIWI key of wallet "old" expires within 1 day', text: 'queued before the upgrade', kind: 'qiwi-key-1d' }),
      ]);
    expect((await settledInbox(address, 1)).map((m) => m.subject)).toEqual(['QIWI key of wallet "old" expires within 1 day']);
  });

  it('records the notice of a park without an e-mail address, and sends nothing', async () => {
    const parkId = await park(null);
    await qiwiWallet(parkId, 'qiwi-silent-key-0123456789ab', new Date(Date.now() + 3 * DAY));
    const before = inbox.length;
    expect(await run(new Date())).toBe(1);
    expect(await run(new Date())).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(inbox.length).toBe(before);
    const counted = await server.app.metrics.registry.getSingleMetric('payouts_wallet_key_notices_total')!.get();
    expect(counted.values.find((v) => v.labels.mailed === 'false')?.value).toBe(1);
  });
});

describe('e-mail without SMTP_URL', () => {
  it('keeps the message unsent, saying why, and its job ends rather than retrying', async () => {
    const t = await createTestApp();
    try {
      const em = () => t.app.orm.em.fork();
      const { mail } = t.app.use(mailModule);
      const emailId = await em().transactional((tx) => mail.enqueue(tx, 'qiwi-key-7d', { to: 'owner@kx-no-smtp.example', subject: 'QIWI key', text: 'expires' }));
      expect(await mail.delivery(em(), emailId)).toEqual({ sentAt: null, attempts: 0, lastError: null, givenUpAt: null });

      const send = t.app.worker.taskList.email__send!;
      await send({ id: emailId }, undefined as never); // ends: no error for graphile-worker to retry
      await send({ id: emailId }, undefined as never);
      expect(await mail.delivery(em(), emailId)).toEqual({ sentAt: null, attempts: 0, lastError: 'SMTP_URL is not set', givenUpAt: null });
      const counted = await t.app.metrics.registry.getSingleMetric('payouts_mail_total')!.get();
      expect(counted.values.find((v) => v.labels.kind === 'qiwi-key-7d' && v.labels.result === 'not_configured')?.value).toBe(2);
    } finally {
      await t.close();
    }
  });
});

describe('e-mail kept while SMTP_URL was unset', () => {
  it('is sent once a worker starts with SMTP_URL; one kept longer than MAIL_KEPT_MAX_AGE is given up on, not sent', async () => {
    const database = await createTestDatabase();
    const withoutSmtp = testEnv(database.url);
    const roles = { api: false, worker: true, consumers: false, migrate: false };
    try {
      // Deployed without SMTP_URL: the worker runs each message's job, which keeps it unsent.
      const before = await startProcess(roles, withoutSmtp);
      const { mail } = before.app.use(mailModule);
      const db = () => before.app.orm.em.fork();
      const [fresh, stale] = await Promise.all(
        ['owner@kx-kept.example', 'owner@kx-kept-stale.example'].map((to) => db().transactional((tx) => mail.enqueue(tx, 'qiwi-key-7d', { to, subject: `QIWI key for ${to}`, text: 'expires' }))),
      );
      for (const id of [fresh!, stale!]) {
        expect(await waitFor(() => mail.delivery(db(), id), (d) => d?.lastError === NOT_CONFIGURED)).toEqual({ sentAt: null, attempts: 0, lastError: NOT_CONFIGURED, givenUpAt: null });
      }
      await db().execute(`UPDATE email_message SET queued_at = now() - interval '8 days' WHERE id = ?`, [stale]);
      await before.stop();

      // SMTP_URL set, the worker started again: its start-up sweep books the kept message.
      const port = (smtp.server.address() as AddressInfo).port;
      const after = await startProcess(roles, { ...withoutSmtp, SMTP_URL: `smtp://127.0.0.1:${port}`, MAIL_FROM: 'payouts@fleet.example' });
      try {
        const delivery = (id: string) => after.app.use(mailModule).mail.delivery(after.app.orm.em.fork(), id);
        expect((await settledInbox('owner@kx-kept.example', 1)).map((m) => m.subject)).toEqual(['QIWI key for owner@kx-kept.example']);
        expect(await waitFor(() => delivery(fresh!), (d) => d?.sentAt != null)).toEqual({ sentAt: expect.any(Date), attempts: 1, lastError: null, givenUpAt: null });
        expect(await waitFor(() => delivery(stale!), (d) => d?.givenUpAt != null)).toEqual({ sentAt: null, attempts: 0, lastError: NOT_CONFIGURED, givenUpAt: expect.any(Date) });

        // The sweep again (as its crontab books it): nothing left to book, nothing sent twice.
        expect(await after.app.use(mailModule).mail.sendKept(after.app.orm.em.fork(), 7 * DAY)).toEqual({ booked: 0, givenUp: 0 });
        expect(await settledInbox('owner@kx-kept.example', 1)).toHaveLength(1);
        expect(mailTo('owner@kx-kept-stale.example')).toHaveLength(0);
      } finally {
        await after.stop();
      }
    } finally {
      await database.drop();
    }
  });
});
