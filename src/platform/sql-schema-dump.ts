import type { ClientBase } from 'pg';

/**
 * The `public` schema as one deterministic text: what the migrations leave behind, read from the
 * PostgreSQL catalogs (not `pg_dump`, which a machine may lack and whose output changes between
 * versions). Checked in as `schema/schema.sql`; `test/sql-schema.test.ts` fails when it is stale.
 *
 * A pure function of the connected database: it reads the catalogs and changes nothing (it sets
 * `search_path` to `pg_catalog` while it reads, so every name the server prints is schema-qualified
 * the same way whatever the session's path, and puts the session's value back after).
 *
 * Left out: the `graphile_worker` schema and the `mikro_orm_migrations` table (the tools' own
 * bookkeeping), owners, grants and statistics.
 *
 * PostgreSQL 15 and 18 print the same text (CI may use either). What differs between them is
 * normalised here; the rest (pg_get_constraintdef, _indexdef, _triggerdef, _functiondef, column
 * defaults and generated expressions, format_type) was compared on both and prints alike:
 *  - PostgreSQL 18 records every NOT NULL as a constraint of its own in `pg_constraint` (contype
 *    `n`, named like `ledger_account_id_not_null`); 15 has only `pg_attribute.attnotnull`. The
 *    constraints listed are those of the other kinds, and NOT NULL is printed with its column.
 *  - Views (none yet): from 16 on, a view whose top-level FROM has one item prints its columns
 *    unqualified, 15 qualified; 15's text is brought to 16's (`unqualifySoleFromItem`).
 *  - Text is sorted with COLLATE "C", not the database's collation, which differs between servers
 *    (names of type `name` sort that way already).
 *  - Extensions are named without their versions, which follow the server's.
 */
export async function dumpSqlSchema(client: ClientBase): Promise<string> {
  const { rows } = await client.query<{ path: string }>(`SELECT current_setting('search_path') AS path`);
  const savedPath = rows[0]!.path;
  await client.query(`SELECT set_config('search_path', 'pg_catalog', false)`);
  try {
    return await dump(client);
  } finally {
    await client.query(`SELECT set_config('search_path', $1, false)`, [savedPath]);
  }
}

/** The schema printed, and its tables that belong to a tool rather than to the migrations (SQL literals). */
const SCHEMA = `'public'`;
const TOOL_TABLES = `ARRAY['mikro_orm_migrations']`;

const HEADER = `-- The database schema (\`public\`) after every migration in migrations/ has run.
-- GENERATED: do not edit. Written by dumpSqlSchema (src/platform/sql-schema-dump.ts) from the
-- PostgreSQL catalogs; test/sql-schema.test.ts fails when the migrations and this file disagree.
-- Regenerate: npm run schema (migrates a scratch database and dumps it)
--
-- Objects are sorted by name; columns keep their table order. Left out: the graphile_worker
-- schema and the mikro_orm_migrations table (the tools' own), owners and grants.
`;

async function dump(client: ClientBase): Promise<string> {
  const q = async <T extends object>(sql: string): Promise<T[]> => (await client.query<T>(sql)).rows;

  await refuseWhatIsNotPrinted(q);

  const sections: string[] = [HEADER];
  const add = (title: string, blocks: string[], separator = '\n\n') => {
    if (blocks.length > 0) sections.push(`-- ${title}\n\n${blocks.join(separator)}\n`);
  };

  add('Extensions', await extensions(q));
  add('Types', await types(q));
  add('Sequences', await sequences(q));
  add('Tables', await tables(q));
  add('Views', await views(q));
  add('Functions and procedures', await functions(q));
  add('Comments', await comments(q), '\n');
  return sections.join('\n');
}

type Query = <T extends object>(sql: string) => Promise<T[]>;

/** Relations of the schema that are ours: not a tool's table, not an extension's. */
const OUR_RELATIONS = `
  SELECT c.* FROM pg_class c
   WHERE c.relnamespace = ${SCHEMA}::regnamespace AND NOT (c.relname = ANY (${TOOL_TABLES}))
     -- Partitions are made at run time (a month's, by date): the partitioned table stands for them.
     AND NOT c.relispartition
     AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

/** Objects this dump would otherwise skip in silence: fail instead, so the dump grows with the schema. */
async function refuseWhatIsNotPrinted(q: Query): Promise<void> {
  const odd = await q<{ what: string }>(`
    SELECT format('%s (relkind %s)', c.relname, c.relkind) AS what FROM (${OUR_RELATIONS}) c
     WHERE c.relkind NOT IN ('r', 'p', 'i', 'I', 'S', 'v', 'm', 'c')
    UNION ALL
    SELECT format('%s (inheritance child)', c.relname) FROM (${OUR_RELATIONS}) c
     WHERE EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
    UNION ALL
    SELECT format('%s (row-level security)', c.relname) FROM (${OUR_RELATIONS}) c
     WHERE c.relrowsecurity OR EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
    UNION ALL
    SELECT format('%s (rule %s)', c.relname, r.rulename) FROM (${OUR_RELATIONS}) c
      JOIN pg_rewrite r ON r.ev_class = c.oid
     WHERE r.rulename <> '_RETURN'
    UNION ALL
    SELECT format('%s (prokind %s)', p.proname, p.prokind) FROM pg_proc p
     WHERE p.pronamespace = ${SCHEMA}::regnamespace AND p.prokind NOT IN ('f', 'p')
    ORDER BY 1`);
  if (odd.length > 0) {
    throw new Error(`dumpSqlSchema cannot print these yet; extend src/platform/sql-schema-dump.ts: ${odd.map((o) => o.what).join(', ')}`);
  }
}

/**
 * Extensions other than plpgsql (which every database has), without their objects. Not their
 * versions: a server major version ships its own default version of an extension.
 */
async function extensions(q: Query): Promise<string[]> {
  const rows = await q<{ extname: string; nspname: string }>(`
    SELECT e.extname, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname <> 'plpgsql'
     ORDER BY e.extname`);
  return rows.map((e) => `CREATE EXTENSION ${ident(e.extname)} WITH SCHEMA ${ident(e.nspname)};`);
}

/** Enums, domains, composite and range types defined in the schema (not a table's row type). */
async function types(q: Query): Promise<string[]> {
  const rows = await q<{ name: string; typtype: string; enums: string[] | null; base: string; notnull: boolean; def: string | null; checks: string[] | null; attrs: string[] | null; subtype: string | null }>(`
    SELECT format('%I.%I', n.nspname, t.typname) AS name, t.typtype,
           (SELECT array_agg(quote_literal(e.enumlabel) ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) AS enums,
           format_type(t.typbasetype, t.typtypmod) AS base, t.typnotnull AS notnull, t.typdefault AS def,
           (SELECT array_agg(format('CONSTRAINT %I %s', c.conname, pg_get_constraintdef(c.oid)) ORDER BY c.conname)
              FROM pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c') AS checks,
           (SELECT array_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
              FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) AS attrs,
           (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid) AS subtype
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE t.typnamespace = ${SCHEMA}::regnamespace AND t.typtype IN ('e', 'd', 'c', 'r')
       AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
     ORDER BY t.typname`);
  return rows.map((t) => {
    switch (t.typtype) {
      case 'e':
        return `CREATE TYPE ${t.name} AS ENUM (${(t.enums ?? []).join(', ')});`;
      case 'd': {
        const parts = [`CREATE DOMAIN ${t.name} AS ${t.base}`];
        if (t.def !== null) parts.push(`DEFAULT ${t.def}`);
        if (t.notnull) parts.push('NOT NULL');
        parts.push(...(t.checks ?? []));
        return `${parts.join('\n  ')};`;
      }
      case 'c':
        return `CREATE TYPE ${t.name} AS (\n  ${(t.attrs ?? []).join(',\n  ')}\n);`;
      default:
        return `CREATE TYPE ${t.name} AS RANGE (SUBTYPE = ${t.subtype});`;
    }
  });
}

/** Sequences not generated for an identity column (those are printed with their column). */
async function sequences(q: Query): Promise<string[]> {
  const rows = await q<{ name: string; type: string; options: string; owner: string | null }>(`
    SELECT format('%I.%I', ${SCHEMA}, c.relname) AS name, format_type(s.seqtypid, NULL) AS type,
           format('START WITH %s INCREMENT BY %s MINVALUE %s MAXVALUE %s CACHE %s%s',
                  s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END) AS options,
           (SELECT format('%I.%I.%I', ${SCHEMA}, t.relname, a.attname)
              FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
              JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
             WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a') AS owner
      FROM (${OUR_RELATIONS}) c JOIN pg_sequence s ON s.seqrelid = c.oid
     WHERE c.relkind = 'S'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'i')
       -- A serial column's sequence of a tool's table belongs to the tool too.
       AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
                          AND d.deptype = 'a' AND t.relname = ANY (${TOOL_TABLES}))
     ORDER BY c.relname`);
  return rows.map((s) => `CREATE SEQUENCE ${s.name} AS ${s.type} ${s.options}${s.owner ? `\n  OWNED BY ${s.owner}` : ''};`);
}

interface ColumnRow {
  table: string;
  name: string;
  type: string;
  collation: string | null;
  notnull: boolean;
  def: string | null;
  identity: string;
  generated: string;
  identity_options: string | null;
}

async function tables(q: Query): Promise<string[]> {
  const list = await q<{ oid: string; name: string; relname: string; reloptions: string[] | null; partition_by: string | null }>(`
    SELECT c.oid::text AS oid, format('%I.%I', ${SCHEMA}, c.relname) AS name, c.relname, c.reloptions,
           CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_by
      FROM (${OUR_RELATIONS}) c WHERE c.relkind IN ('r', 'p') ORDER BY c.relname`);
  const columns = await q<ColumnRow>(`
    SELECT c.oid::text AS "table", quote_ident(a.attname) AS name, format_type(a.atttypid, a.atttypmod) AS type,
           CASE WHEN a.attcollation <> t.typcollation THEN (SELECT format('%I.%I', cn.nspname, co.collname)
                  FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation) END AS collation,
           a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS def, a.attidentity AS identity, a.attgenerated AS generated,
           (SELECT concat_ws(' ',
                     CASE WHEN s.seqtypid <> a.atttypid THEN format('AS %s', format_type(s.seqtypid, NULL)) END,
                     CASE WHEN s.seqstart <> CASE WHEN s.seqincrement > 0 THEN 1 ELSE -1 END THEN format('START WITH %s', s.seqstart) END,
                     CASE WHEN s.seqincrement <> 1 THEN format('INCREMENT BY %s', s.seqincrement) END,
                     CASE WHEN s.seqmin <> 1 AND s.seqincrement > 0 THEN format('MINVALUE %s', s.seqmin) END,
                     CASE WHEN s.seqmax <> CASE format_type(s.seqtypid, NULL) WHEN 'bigint' THEN 9223372036854775807
                                                                              WHEN 'integer' THEN 2147483647 ELSE 32767 END
                               AND s.seqincrement > 0 THEN format('MAXVALUE %s', s.seqmax) END,
                     CASE WHEN s.seqincrement < 0 THEN format('MINVALUE %s MAXVALUE %s', s.seqmin, s.seqmax) END,
                     CASE WHEN s.seqcache <> 1 THEN format('CACHE %s', s.seqcache) END,
                     CASE WHEN s.seqcycle THEN 'CYCLE' END)
              FROM pg_depend dep JOIN pg_sequence s ON s.seqrelid = dep.objid
             WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
               AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype = 'i') AS identity_options
      FROM (${OUR_RELATIONS}) c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relkind IN ('r', 'p')
     ORDER BY c.relname, a.attnum`);
  // contype n: PostgreSQL 18's NOT NULL constraints, printed with their columns (see the top).
  // contype t: a constraint trigger, printed with the triggers.
  const constraints = await q<{ table: string; def: string }>(`
    SELECT c.oid::text AS "table", format('ALTER TABLE ONLY %I.%I ADD CONSTRAINT %I %s;', ${SCHEMA}, c.relname, k.conname, pg_get_constraintdef(k.oid)) AS def
      FROM (${OUR_RELATIONS}) c JOIN pg_constraint k ON k.conrelid = c.oid
     WHERE c.relkind IN ('r', 'p') AND k.contype NOT IN ('n', 't')
     ORDER BY c.relname, k.conname`);
  const indexes = await q<{ table: string; def: string }>(`
    SELECT c.oid::text AS "table", pg_get_indexdef(i.indexrelid) || ';' AS def
      FROM (${OUR_RELATIONS}) c JOIN pg_index i ON i.indrelid = c.oid JOIN pg_class ic ON ic.oid = i.indexrelid
     WHERE c.relkind IN ('r', 'm', 'p')
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                        WHERE k.conindid = i.indexrelid AND k.conrelid = c.oid AND k.contype IN ('p', 'u', 'x'))
     ORDER BY c.relname, ic.relname`);
  const triggers = await q<{ table: string; def: string }>(`
    SELECT c.oid::text AS "table", pg_get_triggerdef(g.oid) || ';' AS def
      FROM (${OUR_RELATIONS}) c JOIN pg_trigger g ON g.tgrelid = c.oid
     WHERE NOT g.tgisinternal
     ORDER BY c.relname, g.tgname`);

  const byTable = <T extends { table: string }>(rows: T[]) => {
    const map = new Map<string, T[]>();
    for (const row of rows) map.set(row.table, [...(map.get(row.table) ?? []), row]);
    return map;
  };
  const columnsOf = byTable(columns);
  const constraintsOf = byTable(constraints);
  const indexesOf = byTable(indexes);
  const triggersOf = byTable(triggers);

  return list.map((table) => {
    const lines = (columnsOf.get(table.oid) ?? []).map(columnLine);
    const partitioned = table.partition_by ? ` PARTITION BY ${table.partition_by}` : '';
    const parts = [`CREATE TABLE ${table.name} (\n${lines.map((line) => `  ${line}`).join(',\n')}\n)${partitioned}${storage(table.reloptions)};`];
    for (const group of [constraintsOf, indexesOf, triggersOf]) {
      const defs = (group.get(table.oid) ?? []).map((row) => row.def);
      if (defs.length > 0) parts.push(defs.join('\n'));
    }
    return parts.join('\n');
  });
}

function columnLine(column: ColumnRow): string {
  const parts = [column.name, column.type];
  if (column.collation) parts.push(`COLLATE ${column.collation}`);
  if (column.notnull) parts.push('NOT NULL');
  if (column.generated === 's') parts.push(`GENERATED ALWAYS AS (${column.def}) STORED`);
  else if (column.generated === 'v') parts.push(`GENERATED ALWAYS AS (${column.def}) VIRTUAL`);
  else if (column.def !== null) parts.push(`DEFAULT ${column.def}`);
  if (column.identity) {
    parts.push(`GENERATED ${column.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`);
    if (column.identity_options) parts.push(`(${column.identity_options})`);
  }
  return parts.join(' ');
}

function storage(reloptions: string[] | null): string {
  return reloptions && reloptions.length > 0 ? `\nWITH (${[...reloptions].sort().join(', ')})` : '';
}

async function views(q: Query): Promise<string[]> {
  const rows = await q<{ name: string; relkind: string; def: string; reloptions: string[] | null; indexes: string[] | null; version: number }>(`
    SELECT format('%I.%I', ${SCHEMA}, c.relname) AS name, c.relkind, pg_get_viewdef(c.oid) AS def, c.reloptions,
           (SELECT array_agg(pg_get_indexdef(i.indexrelid) || ';' ORDER BY ic.relname)
              FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid) AS indexes,
           current_setting('server_version_num')::integer AS version
      FROM (${OUR_RELATIONS}) c WHERE c.relkind IN ('v', 'm') ORDER BY c.relname`);
  return rows.map((v) => {
    const kind = v.relkind === 'm' ? 'MATERIALIZED VIEW' : 'VIEW';
    let body = v.def.trim().replace(/;$/, '');
    if (v.version < 160000) body = unqualifySoleFromItem(body);
    const options = v.reloptions && v.reloptions.length > 0 ? ` WITH (${[...v.reloptions].sort().join(', ')})` : '';
    return [`CREATE ${kind} ${v.name}${options} AS\n${body};`, ...(v.indexes ?? [])].join('\n');
  });
}

const NAME = String.raw`(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)`;
/** A top-level FROM naming one relation (schema-qualified, maybe aliased) or one aliased function call. */
const SOLE_RELATION = new RegExp(String.raw`^(?:${NAME}\.)?(${NAME})(?: (${NAME}))?$`);
/** What follows a function call's or a subquery's closing parenthesis: its alias, maybe with column names. */
const ALIAS_AFTER_PARENTHESIS = new RegExp(String.raw`^ (${NAME})(?:\(.*\))?$`);

/**
 * PostgreSQL 16 dropped the OLD and NEW entries from a view's range table; since then a view whose
 * top-level FROM has one item prints its top-level column references unqualified
 * (\`SELECT id FROM public.payout p\`), where 15 prints them qualified (\`SELECT p.id ...\`). This
 * brings 15's text to 16's: for such a view the item's name is taken off the references of the
 * top level, outside string literals and outside subqueries (whose references both print alike).
 */
function unqualifySoleFromItem(def: string): string {
  const refname = soleFromItem(def);
  if (refname === null) return def;
  let out = '';
  const subqueries: boolean[] = []; // per open parenthesis: whether it opened a subquery
  for (let i = 0; i < def.length; ) {
    const atTopLevel = !subqueries.includes(true);
    if (atTopLevel && def.startsWith(`${refname}.`, i) && !/[\w$."]/.test(def[i - 1] ?? ' ')) {
      i += refname.length + 1;
      continue;
    }
    const char = def[i]!;
    if (char === "'" || char === '"') {
      const end = quotedEnd(def, i);
      out += def.slice(i, end);
      i = end;
      continue;
    }
    if (char === '(') subqueries.push(/^\(\s*(SELECT|WITH|VALUES)\b/.test(def.slice(i, i + 12)));
    else if (char === ')') subqueries.pop();
    out += char;
    i++;
  }
  return out;
}

/** The name a view's columns are qualified with when its top-level FROM has one item; else null. */
function soleFromItem(def: string): string | null {
  const lines = def.split('\n');
  const fromAt = lines.findIndex((line) => line.startsWith('   FROM '));
  if (fromAt < 0 || lines.filter((line) => line.startsWith('   FROM ')).length !== 1) return null;
  const start = lines.slice(0, fromAt).join('\n').length + (fromAt > 0 ? 1 : 0) + '   FROM '.length;
  let item: string;
  let rest: string;
  const open = def.slice(start).search(/[('"\n]/);
  if (open >= 0 && def[start + open] === '(') {
    // A function call or a subquery: the alias follows its closing parenthesis.
    const close = closingParenthesis(def, start + open);
    if (close < 0) return null;
    const lineEnd = def.indexOf('\n', close) < 0 ? def.length : def.indexOf('\n', close);
    const alias = ALIAS_AFTER_PARENTHESIS.exec(def.slice(close + 1, lineEnd));
    if (!alias) return null;
    item = alias[1]!;
    rest = def.slice(lineEnd + 1);
  } else {
    const match = SOLE_RELATION.exec(lines[fromAt]!.slice('   FROM '.length));
    if (!match) return null;
    item = match[2] ?? match[1]!;
    rest = lines.slice(fromAt + 1).join('\n');
  }
  // A comma list ends the line with a comma (no match above); a join may go on on the next line.
  if (/^\s+(?:[A-Z]+ )*JOIN\b/.test(rest)) return null;
  return item;
}

/** The index just past the literal or quoted name starting at `start` (a doubled quote stays inside). */
function quotedEnd(text: string, start: number): number {
  const quote = text[start]!;
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === quote) {
      if (text[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return i;
}

/** The index of the parenthesis closing the one at `open`, skipping literals and quoted names; -1 if none. */
function closingParenthesis(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; ) {
    const char = text[i]!;
    if (char === "'" || char === '"') {
      i = quotedEnd(text, i);
      continue;
    }
    if (char === '(') depth++;
    else if (char === ')' && --depth === 0) return i;
    i++;
  }
  return -1;
}

async function functions(q: Query): Promise<string[]> {
  const rows = await q<{ def: string }>(`
    SELECT pg_get_functiondef(p.oid) AS def FROM pg_proc p
     WHERE p.pronamespace = ${SCHEMA}::regnamespace AND p.prokind IN ('f', 'p')
       -- e: an extension's; i: made by the system with something else (a range type's constructors).
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
     ORDER BY p.proname, pg_get_function_identity_arguments(p.oid) COLLATE "C"`);
  return rows.map((f) => `${f.def.trimEnd()};`);
}

/** Comments on the schema's relations, columns, constraints, functions and types. */
async function comments(q: Query): Promise<string[]> {
  const rows = await q<{ def: string }>(`
    SELECT format('COMMENT ON %s IS %L;', target, description) AS def FROM (
      SELECT CASE WHEN d.objsubid > 0 THEN 'COLUMN'
                  ELSE CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'i' THEN 'INDEX' WHEN 'S' THEN 'SEQUENCE'
                                      WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TYPE' END END
               || format(' %I.%I', ${SCHEMA}, c.relname) || CASE WHEN d.objsubid > 0 THEN format('.%I', a.attname) ELSE '' END,
             d.description
        FROM (${OUR_RELATIONS}) c JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = c.oid
        LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid
      UNION ALL
      SELECT format('%s %s', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure), d.description
        FROM pg_proc p JOIN pg_description d ON d.classoid = 'pg_proc'::regclass AND d.objoid = p.oid
       WHERE p.pronamespace = ${SCHEMA}::regnamespace
      UNION ALL
      SELECT format('CONSTRAINT %I ON %s', k.conname, k.conrelid::regclass), d.description
        FROM pg_constraint k JOIN pg_description d ON d.classoid = 'pg_constraint'::regclass AND d.objoid = k.oid
       WHERE k.connamespace = ${SCHEMA}::regnamespace AND k.conrelid <> 0
      UNION ALL
      SELECT format('TYPE %s', t.oid::regtype), d.description
        FROM pg_type t JOIN pg_description d ON d.classoid = 'pg_type'::regclass AND d.objoid = t.oid
       WHERE t.typnamespace = ${SCHEMA}::regnamespace AND t.typrelid = 0
    ) x(target, description)
     ORDER BY target COLLATE "C"`);
  return rows.map((r) => r.def);
}

function ident(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
