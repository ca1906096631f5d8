import type { CallbackRequest } from './adapter';

/**
 * A request's parameters as the query-string protocols send them: the query (GET) or a url-encoded
 * body (POST, `application/x-www-form-urlencoded` or no content type), the first value of each
 * name. A body of any other type adds nothing: the protocol's own "missing field" answer follows.
 */
export function requestParameters(request: CallbackRequest): Record<string, string> {
  // No prototype: a parameter named `__proto__` or `constructor` is just a name.
  const params: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, request.query);
  if (request.method !== 'POST' || request.body.length === 0) return params;
  const type = (request.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (type !== '' && type !== 'application/x-www-form-urlencoded') return params;
  for (const [name, value] of new URLSearchParams(request.body.toString('utf8'))) {
    if (!Object.hasOwn(params, name)) params[name] = value;
  }
  return params;
}
