/** A small parser for the Prometheus text exposition format, and helpers over its samples. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/** Parse exposition text into samples (comments and malformed lines are skipped). */
export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) {
      for (const l of m[2].matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    }
    const value = parseValue(m[3]!);
    if (Number.isNaN(value)) continue;
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** Sum of every sample called `name` whose labels match `where`. */
export function total(samples: readonly Sample[], name: string, where: Record<string, string> = {}): number | null {
  let found = false;
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).some(([k, v]) => s.labels[k] !== v)) continue;
    found = true;
    sum += s.value;
  }
  return found ? sum : null;
}

/** The first of several metric names present (names differ between client library versions). */
export function firstOf(samples: readonly Sample[], names: string[]): number | null {
  for (const n of names) {
    const v = total(samples, n);
    if (v !== null) return v;
  }
  return null;
}

export interface RouteLatency {
  route: string;
  method: string;
  count: number;
  meanMs: number;
  p95Ms: number | null;
}

/** Estimate a quantile from cumulative histogram buckets (linear inside the bucket). */
export function bucketQuantile(buckets: { le: number; count: number }[], q: number): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const totalCount = sorted[sorted.length - 1]?.count ?? 0;
  if (totalCount === 0) return null;
  const rank = q * totalCount;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe;
      const inBucket = b.count - prevCount;
      const frac = inBucket > 0 ? (rank - prevCount) / inBucket : 1;
      return prevLe + (b.le - prevLe) * frac;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** Per-route latency from a `<base>_bucket/_sum/_count` histogram labelled by route and method. */
export function routeLatencies(samples: readonly Sample[], base: string): RouteLatency[] {
  const groups = new Map<string, { route: string; method: string; sum: number; count: number; buckets: { le: number; count: number }[] }>();
  const key = (l: Record<string, string>) => `${l.method ?? ''} ${l.route ?? l.path ?? l.handler ?? '?'}`;
  for (const s of samples) {
    if (!s.name.startsWith(base)) continue;
    const k = key(s.labels);
    let g = groups.get(k);
    if (!g) {
      g = { route: s.labels.route ?? s.labels.path ?? s.labels.handler ?? '?', method: s.labels.method ?? '', sum: 0, count: 0, buckets: [] };
      groups.set(k, g);
    }
    if (s.name === `${base}_sum`) g.sum += s.value;
    else if (s.name === `${base}_count`) g.count += s.value;
    else if (s.name === `${base}_bucket` && s.labels.le !== undefined) g.buckets.push({ le: parseValue(s.labels.le), count: s.value });
  }
  return [...groups.values()]
    .filter((g) => g.count > 0)
    .map((g) => {
      const p95 = bucketQuantile(g.buckets, 0.95);
      return { route: g.route, method: g.method, count: g.count, meanMs: (g.sum / g.count) * 1000, p95Ms: p95 === null ? null : p95 * 1000 };
    })
    .sort((a, b) => b.count - a.count);
}
