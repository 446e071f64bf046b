import { describe, expect, it } from 'vitest';
import { findBar, findGaps, mergeBar, mergeHistory, toBar, type Bar } from '../src/lib/candles';
import { exchangeDate } from '../src/lib/format';

const bar = (time: number, close: number, extra: Partial<Bar> = {}): Bar => ({
  time,
  open: close,
  high: close + 1,
  low: close - 1,
  close,
  volume: 100,
  final: true,
  revision: 0,
  ...extra,
});

const base = [bar(60, 10), bar(120, 11), bar(180, 12)];

describe('mergeBar', () => {
  it('appends a newer bar and closes the previously forming one', () => {
    const forming = [...base.slice(0, 2), bar(180, 12, { final: false })];
    const r = mergeBar(forming, bar(240, 13, { final: false }));
    expect(r.kind).toBe('append');
    expect(r.bars.map((b) => b.time)).toEqual([60, 120, 180, 240]);
    expect(r.bars[2]!.final).toBe(true);
    expect(forming[2]!.final).toBe(false); // not mutated
  });

  it('moves the forming bar in place', () => {
    const forming = [...base, bar(240, 13, { final: false })];
    const r = mergeBar(forming, bar(240, 13.5, { final: false, volume: 250 }));
    expect(r.kind).toBe('update-last');
    expect(r.bars).toHaveLength(4);
    expect(r.bars[3]!.close).toBe(13.5);
    expect(r.bars[3]!.volume).toBe(250);
  });

  it('closes the forming bar with a final update', () => {
    const forming = [...base, bar(240, 13, { final: false })];
    const r = mergeBar(forming, bar(240, 13.2, { final: true }));
    expect(r.kind).toBe('update-last');
    expect(r.bars[3]!.final).toBe(true);
  });

  it('replaces an older bar on a revision', () => {
    const r = mergeBar(base, bar(120, 11.7, { revision: 1 }));
    expect(r.kind).toBe('revise');
    expect(r.index).toBe(1);
    expect(r.bars[1]!.close).toBe(11.7);
    expect(r.bars).toHaveLength(3);
  });

  it('ignores a stale partial for a closed bar and an older revision', () => {
    const revised = mergeBar(base, bar(120, 11.7, { revision: 2 })).bars;
    const stalePartial = mergeBar(revised, bar(120, 99, { final: false }));
    expect(stalePartial.kind).toBe('ignored');
    expect(stalePartial.bars).toBe(revised);
    const older = mergeBar(revised, bar(120, 50, { revision: 1 }));
    expect(older.kind).toBe('ignored');
    expect(older.bars[1]!.close).toBe(11.7);
    // The same revision again is accepted (idempotent replay).
    expect(mergeBar(revised, bar(120, 11.8, { revision: 2 })).kind).toBe('revise');
  });

  it('inserts a missing older bar in order', () => {
    const gappy = [bar(60, 10), bar(180, 12)];
    const r = mergeBar(gappy, bar(120, 11));
    expect(r.kind).toBe('insert');
    expect(r.bars.map((b) => b.time)).toEqual([60, 120, 180]);
  });

  it('keeps at most maxBars, dropping the oldest', () => {
    let bars: Bar[] = [];
    for (let i = 1; i <= 10; i += 1) bars = mergeBar(bars, bar(i * 60, i), 5).bars;
    expect(bars).toHaveLength(5);
    expect(bars[0]!.time).toBe(360);
    expect(bars[4]!.time).toBe(600);
  });
});

describe('findBar', () => {
  it('finds times or returns the insertion point', () => {
    expect(findBar(base, 120)).toBe(1);
    expect(findBar(base, 150)).toBe(-3);
    expect(findBar(base, 0)).toBe(-1);
    expect(findBar([], 5)).toBe(-1);
  });
});

describe('mergeHistory', () => {
  it('keeps live bars that arrived while history loaded, final stored bars beat partials', () => {
    const history = [bar(60, 10), bar(120, 11)];
    const held = [bar(120, 99, { final: false }), bar(180, 12, { final: false })];
    const out = mergeHistory(history, held);
    expect(out.map((b) => [b.time, b.close])).toEqual([
      [60, 10],
      [120, 11],
      [180, 12],
    ]);
    const revised = mergeHistory(history, [bar(120, 11.5, { revision: 1 })]);
    expect(revised[1]!.close).toBe(11.5);
  });
});

describe('toBar', () => {
  it('converts API candles', () => {
    const b = toBar({ ts: '2024-01-02T14:30:00Z', open: 1, high: 2, low: 0.5, close: 1.5, volume: 10, trade_count: null, vwap: null }, false, 3);
    expect(b).toEqual({ time: 1704205800, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10, final: false, revision: 3 });
  });
});

describe('findGaps', () => {
  const t0 = Date.parse('2024-01-02T14:30:00Z') / 1000;
  it('finds missing minutes inside a session, not overnight', () => {
    const bars = [bar(t0, 1), bar(t0 + 60, 1), bar(t0 + 300, 1), bar(t0 + 360, 1), bar(t0 + 86400, 1)];
    const gaps = findGaps(bars, 60, exchangeDate);
    expect(gaps).toEqual([{ from: t0 + 60, to: t0 + 300, missing: 3 }]);
  });
  it('flags skipped weekdays for daily bars, not weekends', () => {
    const day = (iso: string) => bar(Date.parse(iso) / 1000, 1);
    // Fri 5th → Mon 8th is a weekend; Mon 8th → Wed 10th skips Tuesday.
    const bars = [day('2024-01-05T05:00:00Z'), day('2024-01-08T05:00:00Z'), day('2024-01-10T05:00:00Z')];
    const gaps = findGaps(bars, 86400, exchangeDate);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.missing).toBe(1);
  });
});
