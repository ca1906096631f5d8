import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';

export interface GraphQLResponse<T> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> & { code?: string } }[];
}

/** Posts an operation to a running server, as a client would. */
export async function graphql<TResult, TVariables>(
  url: string,
  document: TypedDocumentNode<TResult, TVariables> | string,
  variables?: TVariables,
  token?: string | null,
): Promise<GraphQLResponse<TResult>> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query: typeof document === 'string' ? document : print(document), variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResponse<TResult>, 'status'>;
  return { status: response.status, ...body };
}

export function errorCodes(response: GraphQLResponse<unknown>): (string | undefined)[] {
  return (response.errors ?? []).map((e) => e.extensions?.code);
}
