import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { enumOf } from '../platform/graphql/enums';
import { EXPORT_STATUSES, fileNameOf, type ExportRow, type ExportStatus } from './exports';

export const ExportStatusValue = enumOf(EXPORT_STATUSES);
registerEnumType(ExportStatusValue, { name: 'ExportStatus', description: 'QUEUED → RUNNING → DONE (downloadable until it EXPIRES) or FAILED' });

@ObjectType('TransactionExport', { simpleResolvers: true, description: 'An Excel export of transactions' })
export class TransactionExportType {
  @Field(() => ID)
  id!: string;

  @Field(() => ExportStatusValue)
  status!: ExportStatus;

  @Field(() => Int, { description: 'Rows written so far' })
  rows!: number;

  @Field(() => String, { nullable: true, description: 'GET it with the same bearer token, once DONE: a path on the API’s origin' })
  downloadUrl!: string | null;

  @Field()
  fileName!: string;

  @Field({ description: 'The time zone its dates are in' })
  timezone!: string;

  @Field(() => String, { nullable: true })
  error!: string | null;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  finishedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'After this the file is gone (TRANSACTION_EXPORT_TTL)' })
  expiresAt!: Date | null;

  static of(row: ExportRow): TransactionExportType {
    return Object.assign(new TransactionExportType(), {
      id: row.id,
      status: row.status,
      rows: row.rows,
      downloadUrl: row.status === 'DONE' ? `/exports/${row.id}` : null,
      fileName: fileNameOf(row),
      timezone: row.timezone,
      error: row.error,
      createdAt: row.created_at,
      finishedAt: row.finished_at,
      expiresAt: row.expires_at,
    });
  }
}

@InputType({ description: 'How the export is written' })
export class ExportOptionsInput {
  @Field(() => String, { nullable: true, description: 'IANA time zone of its dates; default: the park’s when the filter names one, else UTC' })
  timezone?: string | null;
}
