/** The HTTP core: base URL and key from settings, error JSON → ApiError, latency recording. */

import { normalizeBase, useSettings } from '../stores/settings';
import { routeOf, useTelemetry } from '../stores/telemetry';

/** An API error with the contract's `{"error": {"code", "message"}}` body. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** The current API base ("" = same origin). */
export function apiBase(): string {
  return normalizeBase(useSettings.getState().apiBase);
}

/** Absolute URL of an API path (for links and downloads). */
export function apiUrl(path: string, params?: Record<string, string | number | undefined | null>): string {
  const base = apiBase() || window.location.origin;
  const url = new URL(base + path);
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  return url.toString();
}

/** Headers carrying the API key, when one is set. */
export function authHeaders(): Record<string, string> {
  const key = useSettings.getState().apiKey.trim();
  return key ? { 'X-API-Key': key } : {};
}

async function readError(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string }; detail?: unknown };
    if (body?.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
    } else if (body?.detail) {
      message = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail);
    }
  } catch {
    /* not JSON */
  }
  if (res.status === 401) message = `${message} — set an API key in Settings`;
  if (res.status === 429) message = `rate limited (retry after ${res.headers.get('Retry-After') ?? '?'} s)`;
  return new ApiError(res.status, code, message);
}

export type Query = Record<string, string | number | boolean | undefined | null>;

/**
 * The fetch every API call goes through (the generated client's too): resolves the path
 * against the configured base URL, adds the API key, records the latency, and turns a
 * non-2xx answer into an ApiError.
 */
export async function apiFetch(input: Request, quiet: readonly number[] = []): Promise<Response> {
  const original = new URL(input.url, window.location.origin);
  const path = original.pathname;
  const target = apiUrl(path) + original.search;
  const headers = new Headers(input.headers);
  for (const [k, v] of Object.entries(authHeaders())) headers.set(k, v);
  if (!headers.has('Accept')) headers.set('Accept', 'application/json');
  const method = input.method;
  const body = method === 'GET' || method === 'HEAD' ? undefined : await input.text();
  const route = routeOf(path);
  const t0 = performance.now();
  let res: Response;
  try {
    res = await fetch(target, { method, headers, body, signal: input.signal });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    const t = useTelemetry.getState();
    t.request({ ts: Date.now(), route, ms: performance.now() - t0, status: 0 });
    t.log('error', 'api', `${method} ${route}: network error (${(err as Error).message})`);
    throw new ApiError(0, 'network', `cannot reach the API at ${apiBase() || window.location.origin} (${(err as Error).message})`);
  }
  useTelemetry.getState().request({ ts: Date.now(), route, ms: performance.now() - t0, status: res.status });
  if (!res.ok && res.status !== 304) {
    const err = await readError(res);
    if (!quiet.includes(res.status)) {
      useTelemetry.getState().log(res.status >= 500 ? 'error' : 'warning', 'api', `${method} ${route} → ${res.status} ${err.code}: ${err.message}`);
    }
    throw err;
  }
  return res;
}

/** Fetch an API path (for answers that are not JSON: text, NDJSON streams, files). */
export async function request(
  path: string,
  init: { method?: string; query?: Query; body?: unknown; signal?: AbortSignal; accept?: string; quiet?: number[] } = {},
): Promise<Response> {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(init.query ?? {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const headers: Record<string, string> = { Accept: init.accept ?? 'application/json' };
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  return apiFetch(
    new Request(url, {
      method: init.method ?? 'GET',
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal,
    }),
    init.quiet,
  );
}

/** GET/POST an API path and parse its JSON answer. */
export async function requestJson<T>(path: string, init: Parameters<typeof request>[1] = {}): Promise<T> {
  const res = await request(path, init);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}
