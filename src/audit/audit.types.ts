import { GraphQLJSON } from 'graphql-scalars';
import { Field, ID, InputType, ObjectType } from 'type-graphql';
import { ConnectionType } from '../platform/graphql/connection-type';
import type { AuditEntryRow } from './audit.service';

@ObjectType('AuditEntry', { simpleResolvers: true, description: 'One mutation or admin CLI action, done or refused' })
export class AuditEntryType {
  @Field(() => ID)
  id!: string;

  @Field({ description: 'When it was done (its transaction’s time)' })
  at!: Date;

  @Field({ description: 'Who: the token’s subject, or cli:<user> for the command line' })
  subject!: string;

  @Field({ description: 'The caller’s role (cli for the command line)' })
  role!: string;

  @Field({ description: 'The mutation or CLI command' })
  operation!: string;

  @Field(() => GraphQLJSON, { description: 'Its arguments, secrets and credentials redacted' })
  arguments!: unknown;

  @Field(() => [String], { description: 'What it is about, as scopes: PARK:<id>, CLIENT:<id>, SHOP:<party>/<shop>, PAYOUT:<id>…' })
  targets!: string[];

  @Field({ description: 'OK, or the error code it was refused with' })
  outcome!: string;

  @Field({ description: 'The request’s x-request-id (one per CLI invocation)' })
  requestId!: string;

  @Field(() => String, { nullable: true })
  clientAddress!: string | null;

  @Field(() => String, { nullable: true })
  userAgent!: string | null;

  static of(row: AuditEntryRow): AuditEntryType {
    return Object.assign(new AuditEntryType(), {
      id: row.id,
      at: new Date(row.at),
      subject: row.subject,
      role: row.role,
      operation: row.operation,
      arguments: row.arguments,
      targets: row.targets,
      outcome: row.outcome,
      requestId: row.request_id,
      clientAddress: row.client_address,
      userAgent: row.user_agent,
    });
  }
}

@InputType()
export class AuditFilter {
  @Field(() => String, { nullable: true })
  subject?: string | null;

  @Field(() => String, { nullable: true, description: 'Entries about this park' })
  parkId?: string | null;

  @Field(() => String, { nullable: true })
  operation?: string | null;

  @Field(() => String, { nullable: true, description: 'OK or an error code' })
  outcome?: string | null;

  @Field(() => Date, { nullable: true, description: 'From this moment on (inclusive)' })
  from?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Before this moment (exclusive)' })
  to?: Date | null;
}

@ObjectType('AuditEntryConnection', { description: 'A page of audit entries, newest first' })
export class AuditEntryConnection extends ConnectionType(AuditEntryType, 'AuditEntryEdge') {}
