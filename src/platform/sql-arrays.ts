/**
 * PostgreSQL array literals, bound as one text parameter and cast in SQL (`?::text[]`). The ORM
 * expands a JS array into a list of parameters, which suits `IN (?)` but not `unnest` or `ANY`,
 * and one parameter per value would not scale to bulk statements anyway.
 */
export function textArray(values: readonly (string | null)[]): string {
  // One pass per value: a backslash before every `"` and `\` (JSON messages are full of quotes).
  return `{${values.map((v) => (v === null ? 'NULL' : `"${v.replace(SPECIAL, '\\$&')}"`)).join(',')}}`;
}

const SPECIAL = /["\\]/g;

/** Integers (numbers or bigints), booleans and timestamps as ISO strings need no quoting. */
export function plainArray(values: readonly (number | bigint | boolean | string)[]): string {
  return `{${values.join(',')}}`;
}
