/**
 * Raw query rows carry timestamps as text (the ORM's driver setting); this turns the named
 * columns into Dates, so row types can say `Date` and mean it.
 */
export function withDates<T extends object>(row: T, columns: readonly (keyof T)[]): T {
  const copy = { ...row };
  for (const column of columns) {
    const value = copy[column] as unknown;
    if (value !== null && value !== undefined && !(value instanceof Date)) copy[column] = new Date(value as string) as T[keyof T];
  }
  return copy;
}
