/** Reading the stream statistics object, whatever its exact nesting. */

/** Flatten nested objects into dotted keys with numeric/string/bool leaves. */
export function flatten(obj: unknown, prefix = '', out: Record<string, number | string | boolean | null> = {}): Record<string, number | string | boolean | null> {
  if (obj === null || obj === undefined) {
    if (prefix) out[prefix] = null;
    return out;
  }
  if (Array.isArray(obj)) {
    if (prefix) out[prefix] = obj.length <= 8 && obj.every((v) => typeof v !== 'object') ? obj.join(', ') : `${obj.length} items`;
    return out;
  }
  if (typeof obj === 'object') {
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    return out;
  }
  if (typeof obj === 'number' || typeof obj === 'string' || typeof obj === 'boolean') out[prefix] = obj;
  return out;
}

/** The first numeric leaf whose dotted key matches one of the patterns (in pattern order). */
export function pick(flat: Record<string, unknown>, patterns: RegExp[]): number | null {
  for (const re of patterns) {
    for (const [k, v] of Object.entries(flat)) {
      if (typeof v === 'number' && Number.isFinite(v) && re.test(k)) return v;
    }
  }
  return null;
}

/** A duration in milliseconds from the first key matching a pattern; `_s`/`seconds` keys are scaled. */
export function pickMs(flat: Record<string, unknown>, patterns: RegExp[]): number | null {
  for (const re of patterns) {
    for (const [k, v] of Object.entries(flat)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || !re.test(k)) continue;
      if (/(_s|_sec|_seconds|seconds)$/i.test(k)) return v * 1000;
      if (/(_us|_micros)$/i.test(k)) return v / 1000;
      return v;
    }
  }
  return null;
}

export const THROUGHPUT_KEYS = [/trades_per_s(ec(ond)?)?$/i, /events_per_s(ec(ond)?)?$/i, /(^|\.)rate$/i, /per_s(ec(ond)?)?$/i, /throughput/i];
export const LAG_KEYS = [/(^|\.)lag_ms$/i, /(^|\.)lag_s$/i, /(^|\.)lag(_seconds)?$/i, /lag/i];
export const LATENCY_P99_KEYS = [/latency_ms\.p99$/i, /latency.*p99/i];
export const CLIENT_KEYS = [/ws_clients$/i, /clients$/i, /connections$/i, /subscribers$/i];
export const TOTAL_KEYS = [/trades_total$/i, /events_total$/i, /trades$/i, /events$/i, /messages$/i];
