/**
 * PostgreSQL array literals, bound as one text parameter and cast in SQL (`?::text[]`). The ORM
 * expands a JS array into a list of parameters, which suits `IN (?)` but not `unnest` or `ANY`,
 * and one parameter per value would not scale to bulk statements anyway.
 */
export function textArray(values: readonly (string | null)[]): string {
  // Bulk statements build these for thousands of values. The usual case, nothing to escape and no
  // NULL, is one join: one string made, where a concatenation per value leaves three pieces of
  // garbage each (a fifth of the memory a camera event's ingestion allocated).
  if (values.length > 0 && values.every(isPlainText)) return `{"${values.join('","')}"}`;
  let literal = '{';
  for (let i = 0; i < values.length; i += 1) {
    const value = values[i] as string | null;
    if (i > 0) literal += ',';
    if (value === null) literal += 'NULL';
    else if (isPlainText(value)) literal += `"${value}"`;
    else literal += `"${value.replace(SPECIAL, '\\$&')}"`;
  }
  return `${literal}}`;
}

const SPECIAL = /["\\]/g;

function isPlainText(value: string | null): boolean {
  return value !== null && value.indexOf('"') < 0 && value.indexOf('\\') < 0;
}

/** Integers (numbers or bigints), booleans and timestamps as ISO strings need no quoting; NULL by name. */
export function plainArray(values: readonly (number | bigint | boolean | string | null)[]): string {
  // join would write a null as nothing, which PostgreSQL refuses in an array literal.
  return `{${values.map((value) => (value === null ? 'NULL' : value)).join(',')}}`;
}
