/**
 * Candle series state: merging live WebSocket updates into an ordered bar list.
 *
 * Rules (CONTRACT.md "WebSocket"):
 * - an update for a bar newer than the last one appends it (the previous forming bar is then closed);
 * - an update for the last bar replaces it (the forming bar moves, or it closes with `final`);
 * - an update for an older bar is a revision: it replaces that bar in place (or is inserted in order);
 * - once a bar is final, a partial (non-final) update for it is stale and ignored, and so is a final
 *   update with a lower revision number than the one already applied.
 */

import { isoToEpoch } from './format';

/** A bar on the chart: `time` is the open time in UTC epoch seconds. */
export interface Bar {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  final?: boolean;
  revision?: number;
}

/** A candle as the API sends it (CONTRACT.md "Candle"). */
export interface ApiCandle {
  ts: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  trade_count?: number | null;
  vwap?: number | null;
}

/** A live candle message from `/ws`. */
export interface CandleMessage {
  type: 'candle';
  symbol: string;
  timeframe: string;
  candle: ApiCandle;
  final: boolean;
  revision: number;
}

/** What applying an update did, so a chart can pick the cheapest redraw. */
export type MergeKind = 'append' | 'update-last' | 'revise' | 'insert' | 'ignored';

export interface MergeResult {
  bars: Bar[];
  kind: MergeKind;
  index: number;
}

/** Convert an API candle into a chart bar. */
export function toBar(candle: ApiCandle, final = true, revision = 0): Bar {
  return {
    time: isoToEpoch(candle.ts),
    open: candle.open,
    high: candle.high,
    low: candle.low,
    close: candle.close,
    volume: candle.volume,
    final,
    revision,
  };
}

function isStale(existing: Bar, incoming: Bar): boolean {
  if (!existing.final) return false;
  if (!incoming.final) return true;
  return (incoming.revision ?? 0) < (existing.revision ?? 0);
}

/** Binary search for `time`; returns the index or -(insertion point) - 1. */
export function findBar(bars: readonly Bar[], time: number): number {
  let lo = 0;
  let hi = bars.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const t = bars[mid]!.time;
    if (t === time) return mid;
    if (t < time) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/**
 * Apply one update to an ascending bar list without mutating it.
 *
 * When the list grows past `maxBars`, the oldest bars are dropped.
 */
export function mergeBar(bars: readonly Bar[], incoming: Bar, maxBars = 5000): MergeResult {
  const last = bars[bars.length - 1];
  if (!last || incoming.time > last.time) {
    const out = bars.length >= maxBars ? bars.slice(bars.length - maxBars + 1) : bars.slice();
    // The previously forming bar is closed once a newer one starts.
    if (last && !last.final) out[out.length - 1] = { ...last, final: true };
    out.push(incoming);
    return { bars: out, kind: 'append', index: out.length - 1 };
  }
  const idx = incoming.time === last.time ? bars.length - 1 : findBar(bars, incoming.time);
  if (idx >= 0) {
    const existing = bars[idx]!;
    if (isStale(existing, incoming)) return { bars: bars as Bar[], kind: 'ignored', index: idx };
    const out = bars.slice();
    out[idx] = incoming;
    return { bars: out, kind: idx === bars.length - 1 ? 'update-last' : 'revise', index: idx };
  }
  const at = -idx - 1;
  const out = bars.slice();
  out.splice(at, 0, incoming);
  return { bars: out, kind: 'insert', index: at };
}

/** Merge an ascending history page with bars already held from the live stream. */
export function mergeHistory(history: readonly Bar[], held: readonly Bar[]): Bar[] {
  if (held.length === 0) return history.slice();
  const byTime = new Map<number, Bar>();
  for (const b of history) byTime.set(b.time, b);
  for (const b of held) {
    const h = byTime.get(b.time);
    // A stored (final) bar beats a held partial one; otherwise the live bar is at least as new.
    if (!h || b.final || !h.final) byTime.set(b.time, b);
  }
  return [...byTime.values()].sort((a, b) => a.time - b.time);
}

/** A gap: bars missing between two consecutive bars of the same exchange session. */
export interface Gap {
  from: number;
  to: number;
  missing: number;
}

/**
 * Gaps inside sessions: consecutive intraday bars on the same exchange day more than one
 * timeframe apart. Overnight and weekend breaks are not gaps.
 */
export function findGaps(bars: readonly Bar[], timeframeSec: number, dayOf: (t: number) => string): Gap[] {
  const gaps: Gap[] = [];
  if (timeframeSec >= 86400) {
    // Daily bars: a skipped weekday (Mon-Fri) is a candidate gap (or an exchange holiday).
    for (let i = 1; i < bars.length; i += 1) {
      const a = bars[i - 1]!.time;
      const b = bars[i]!.time;
      let weekdays = 0;
      for (let t = a + 86400; t < b - 3600; t += 86400) {
        const wd = new Date(t * 1000).getUTCDay();
        if (wd !== 0 && wd !== 6) weekdays += 1;
      }
      if (weekdays > 0) gaps.push({ from: a, to: b, missing: weekdays });
    }
    return gaps;
  }
  for (let i = 1; i < bars.length; i += 1) {
    const a = bars[i - 1]!.time;
    const b = bars[i]!.time;
    if (b - a > timeframeSec && dayOf(a) === dayOf(b)) {
      gaps.push({ from: a, to: b, missing: Math.round((b - a) / timeframeSec) - 1 });
    }
  }
  return gaps;
}
