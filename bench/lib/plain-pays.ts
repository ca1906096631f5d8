import { createServer, type ServerResponse } from 'node:http';
import { Client } from 'pg';

/**
 * The floor under the pay callbacks' figure: the least a durable QIWI pay can be on this machine,
 * written by hand. A bare node:http server and one pg connection; a pay is its driver (working, by
 * id) and an ACCEPTED row, recorded with every pay that arrived while the last statement ran, in one
 * statement and one commit, answered once committed — the service's own design, without anything
 * else the service does (the link, the protocol's checks, the limits, metrics, logs). No payment
 * system could be served this way; it is here to show how much of the gap to `/healthz` is this
 * machine's and how much the service's.
 *
 * Run as a child process of the benchmark: `node plain-pays.js` with PORT, DATABASE_URL, WALLET_ID
 * (a QIWI_MD wallet's) and PARK_ID, on 127.0.0.1; `/readyz` answers once it listens.
 */

interface Pay {
  txnId: string;
  account: string;
  amount: bigint;
  sum: string;
  response: ServerResponse;
}

const ACCEPT = `INSERT INTO topup_transaction (wallet_id, park_id, driver_id, payment_system, external_id, amount, currency, status)
  SELECT $1::uuid, d.park_id, d.id, 'QIWI_MD', i.txn_id, i.amount, 'RUB', 'ACCEPTED'
    FROM unnest($3::text[], $4::text[], $5::bigint[]) AS i(txn_id, account, amount)
    JOIN driver d ON d.park_id = $2 AND d.id = i.account AND d.status = 'WORKING'
  ON CONFLICT (wallet_id, external_id) DO NOTHING RETURNING id, external_id`;

async function main(): Promise<void> {
  const { PORT, DATABASE_URL, WALLET_ID, PARK_ID } = process.env;
  if (!PORT || !DATABASE_URL || !WALLET_ID || !PARK_ID) throw new Error('PORT, DATABASE_URL, WALLET_ID and PARK_ID are required');
  const db = new Client({ connectionString: DATABASE_URL });
  await db.connect();

  let pending: Pay[] = [];
  let running = false;
  const runStatements = async () => {
    running = true;
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      try {
        const { rows } = await db.query<{ id: string; external_id: string }>({
          name: 'plain_accept',
          text: ACCEPT,
          values: [WALLET_ID, PARK_ID, batch.map((pay) => pay.txnId), batch.map((pay) => pay.account), batch.map((pay) => pay.amount.toString())],
        });
        const ids = new Map(rows.map((row) => [row.external_id, row.id]));
        for (const pay of batch) {
          const id = ids.get(pay.txnId);
          answer(pay.response, id === undefined ? `<osmp_txn_id>${pay.txnId}</osmp_txn_id><result>5</result>` : `<osmp_txn_id>${pay.txnId}</osmp_txn_id><prv_txn>${id}</prv_txn><sum>${pay.sum}</sum><result>0</result>`);
        }
      } catch {
        for (const pay of batch) answer(pay.response, '<result>1</result>');
      }
    }
    running = false;
  };

  const server = createServer((request, response) => {
    const url = request.url ?? '/';
    if (url === '/healthz' || url === '/readyz') {
      response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end('{"status":"ok"}');
      return;
    }
    const query = new URLSearchParams(url.slice(url.indexOf('?') + 1));
    const sum = query.get('sum') ?? '';
    const amount = /^\d{1,15}\.\d{2}$/.test(sum) ? BigInt(sum.replace('.', '')) : null;
    if (query.get('command') !== 'pay' || amount === null) {
      answer(response, '<result>300</result>');
      return;
    }
    pending.push({ txnId: query.get('txn_id') ?? '', account: query.get('account') ?? '', amount, sum, response });
    if (!running) void runStatements();
  });
  server.listen(Number(PORT), '127.0.0.1');
  process.once('SIGTERM', () => {
    server.close(() => void db.end().then(() => process.exit(0)));
    server.closeAllConnections();
  });
}

function answer(response: ServerResponse, fields: string): void {
  response.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' }).end(`<?xml version="1.0" encoding="UTF-8"?>\n<response>${fields}</response>`);
}

void main();
