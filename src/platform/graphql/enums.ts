/** A GraphQL enum object from a list of values, for `registerEnumType`. */
export const enumOf = <T extends string>(values: readonly T[]) => Object.fromEntries(values.map((v) => [v, v])) as Record<T, T>;
