import type { Writable } from 'node:stream';
import ExcelJS from 'exceljs';
import { formatMajor, minorDigits } from '../platform/money';
import type { TransactionRow } from './transaction';

export interface SheetHeading {
  /** The filter in words, e.g. `park=p1; status=PROCESSED`. */
  filter: string;
  timezone: string;
  exportedAt: Date;
}

const COLUMNS = [
  { header: 'Created', key: 'created', width: 20 },
  { header: 'Processed', key: 'processed', width: 20 },
  { header: 'Park', key: 'park', width: 16 },
  { header: 'Driver', key: 'driver', width: 16 },
  { header: 'Payment system', key: 'system', width: 14 },
  { header: 'External id', key: 'external', width: 24 },
  { header: 'Amount', key: 'amount', width: 16 },
  { header: 'Currency', key: 'currency', width: 9 },
  { header: 'Status', key: 'status', width: 11 },
  { header: 'Reason', key: 'reason', width: 18 },
  { header: 'Wallet', key: 'wallet', width: 38 },
  { header: 'Transaction', key: 'id', width: 12 },
] as const;

/** The rows above the column headers: the filter and the time zone; the header row is frozen below them. */
const HEADING_ROWS = 2;
const DATE_FORMAT = 'yyyy-mm-dd hh:mm:ss';
/** Check the zip's intake this often (rows), giving the event loop a turn. */
const PACE_EVERY = 500;
/** The most sheet XML allowed to wait for the zip before rows pause. */
const PACE_BYTES = 2 << 20;

/**
 * exceljs' sheet stream hands its XML to the zip without waiting (`row.commit()` is synchronous),
 * so rows written faster than the zip deflates and the destination takes pile up in memory. This
 * waits while more than PACE_BYTES are queued at the zip's entry (the streams the sheet pipes to)
 * or at its output, which ties the rows written to the pace of the destination: flat memory.
 */
type Queued = { writableLength?: number; _writableState?: { length: number }; _readableState?: { length: number } };

/** Bytes queued in a stream (archiver's are readable-stream streams: their state, not `writableLength`). */
const queued = (stream: Queued | undefined) => (stream?._writableState?.length ?? stream?.writableLength ?? 0) + (stream?._readableState?.length ?? 0);

async function paced(workbook: ExcelJS.stream.xlsx.WorkbookWriter, sheet: ExcelJS.Worksheet): Promise<void> {
  const pipes = (sheet as unknown as { stream?: { pipes?: Queued[] } }).stream?.pipes ?? [];
  const zip = (workbook as unknown as { zip?: Queued }).zip;
  const backlog = () => pipes.reduce((sum, pipe) => sum + queued(pipe), 0) + queued(zip);
  await new Promise<void>((resolve) => setImmediate(resolve));
  while (backlog() > PACE_BYTES) await new Promise<void>((resolve) => setTimeout(resolve, 2));
}

/** Excel number format of an amount in major units with its currency, e.g. `#,##0.00 "RUB"`. */
export function amountFormat(currency: string): string {
  const digits = minorDigits(currency);
  return `#,##0${digits > 0 ? `.${'0'.repeat(digits)}` : ''} "${currency}"`;
}

/**
 * Local wall-clock time in a time zone as a Date whose UTC fields show it (Excel dates have no
 * zone). The offset is looked up once per hour of UTC time: zones change offset on the hour.
 */
export function localClock(timezone: string): (instant: Date) => Date {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const offsets = new Map<number, number>();
  return (instant) => {
    const ms = instant.getTime();
    const hour = Math.floor(ms / 3_600_000);
    let offset = offsets.get(hour);
    if (offset === undefined) {
      const probe = new Date(hour * 3_600_000);
      const parts = Object.fromEntries(format.formatToParts(probe).map((p) => [p.type, p.value]));
      offset = Date.UTC(+parts.year!, +parts.month! - 1, +parts.day!, +parts.hour!, +parts.minute!, +parts.second!) - probe.getTime();
      if (offsets.size > 100_000) offsets.clear();
      offsets.set(hour, offset);
    }
    return new Date(ms + offset);
  };
}

/**
 * Streams transactions into an .xlsx (exceljs' streaming WorkbookWriter: each row is committed as
 * it is written, so memory stays flat): a heading with the filter and the time zone, typed columns
 * (dates as dates in that zone, amounts as numbers in major units in the currency's format), a
 * totals row per currency, the header frozen and filtered. `onRows` reports progress.
 */
export async function writeTransactionsXlsx(
  out: Writable,
  pages: AsyncIterable<TransactionRow[]> | Iterable<TransactionRow[]>,
  heading: SheetHeading,
  onRows: (rows: number) => Promise<void> = async () => {},
): Promise<{ rows: number; totals: Map<string, bigint> }> {
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: out, useStyles: true, useSharedStrings: false });
  const sheet = workbook.addWorksheet('Transactions', { views: [{ state: 'frozen', ySplit: HEADING_ROWS + 1 }] });
  const local = localClock(heading.timezone);
  COLUMNS.forEach((column, i) => (sheet.getColumn(i + 1).width = column.width));
  sheet.addRow([`Transactions; filter: ${heading.filter || 'none'}`]).commit();
  sheet.addRow([`Time zone: ${heading.timezone}; exported ${heading.exportedAt.toISOString()}`]).commit();
  const header = sheet.addRow(COLUMNS.map((c) => c.header));
  header.font = { bold: true };
  header.commit();
  sheet.autoFilter = { from: { row: HEADING_ROWS + 1, column: 1 }, to: { row: HEADING_ROWS + 1, column: COLUMNS.length } };

  const formats = new Map<string, string>();
  const totals = new Map<string, bigint>();
  let rows = 0;
  for await (const page of pages) {
    for (const tx of page) {
      let numFmt = formats.get(tx.currency);
      if (!numFmt) formats.set(tx.currency, (numFmt = amountFormat(tx.currency)));
      const row = sheet.addRow([
        local(tx.created_at),
        tx.processed_at ? local(tx.processed_at) : null,
        tx.park_id,
        tx.driver_id,
        tx.payment_system,
        tx.external_id,
        Number(formatMajor(tx.amount, tx.currency)),
        tx.currency,
        tx.status,
        tx.reason,
        tx.wallet_id,
        Number(tx.id),
      ]);
      row.getCell(1).numFmt = DATE_FORMAT;
      row.getCell(2).numFmt = DATE_FORMAT;
      row.getCell(7).numFmt = numFmt;
      row.commit();
      totals.set(tx.currency, (totals.get(tx.currency) ?? 0n) + tx.amount);
      if (++rows % PACE_EVERY === 0) await paced(workbook, sheet);
    }
    await onRows(rows);
  }
  for (const [currency, total] of [...totals].sort(([a], [b]) => a.localeCompare(b))) {
    const row = sheet.addRow(['Total', null, null, null, null, null, Number(formatMajor(total, currency)), currency]);
    row.font = { bold: true };
    row.getCell(7).numFmt = amountFormat(currency);
    row.commit();
  }
  sheet.commit();
  await workbook.commit();
  return { rows, totals };
}
