/**
 * PostgreSQL array literals, bound as one text parameter and cast in SQL (`?::text[]`). The ORM
 * expands a JS array into a list of parameters, which suits `IN (?)` but not `unnest` or `ANY`,
 * and one parameter per value would not scale to bulk statements anyway.
 */
export function textArray(values: readonly (string | null)[]): string {
  return `{${values.map((v) => (v === null ? 'NULL' : `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`)).join(',')}}`;
}

/** Integers (numbers or bigints), booleans and timestamps as ISO strings need no quoting. */
export function plainArray(values: readonly (number | bigint | boolean | string)[]): string {
  return `{${values.join(',')}}`;
}
