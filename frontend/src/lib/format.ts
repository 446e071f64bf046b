/** Formatting helpers: prices, volumes, percentages and exchange-time labels. */

export const EXCHANGE_TZ = 'America/New_York';

const priceFmtCache = new Map<number, Intl.NumberFormat>();

/** Decimal places suited to a price: 2 above $1, 4 below. */
export function priceDecimals(value: number): number {
  const abs = Math.abs(value);
  if (abs === 0 || abs >= 1) return 2;
  return 4;
}

/** A price with thousands separators ("1,234.56"); "—" for null/NaN. */
export function formatPrice(value: number | null | undefined, decimals?: number): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const d = decimals ?? priceDecimals(value);
  let fmt = priceFmtCache.get(d);
  if (!fmt) {
    fmt = new Intl.NumberFormat('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
    priceFmtCache.set(d, fmt);
  }
  return fmt.format(value);
}

/** A compact volume ("1.23M", "456.7K", "980"); "—" for null/NaN. */
export function formatVolume(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  const sign = value < 0 ? '-' : '';
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, suffix] of units) {
    if (abs >= size) {
      const scaled = abs / size;
      const digits = scaled >= 100 ? 1 : 2;
      return `${sign}${scaled.toFixed(digits)}${suffix}`;
    }
  }
  return `${sign}${Math.round(abs)}`;
}

/** A signed percentage ("+1.23%", "-0.40%", "0.00%"). */
export function formatPct(value: number | null | undefined, decimals = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const rounded = Number(value.toFixed(decimals));
  const sign = rounded > 0 ? '+' : '';
  return `${sign}${rounded.toFixed(decimals)}%`;
}

/** A signed change ("+1.20", "-0.35"). */
export function formatChange(value: number | null | undefined, decimals = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const text = formatPrice(value, decimals);
  return value > 0 ? `+${text}` : text;
}

/** Percent change from `ref` to `value`, or null when undefined. */
export function pctChange(value: number | null | undefined, ref: number | null | undefined): number | null {
  if (value == null || ref == null || !Number.isFinite(value) || !Number.isFinite(ref) || ref === 0) return null;
  return ((value - ref) / ref) * 100;
}

/** A byte count ("12.3 MB"). */
export function formatBytes(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = value;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** A duration in milliseconds ("850 µs", "12.3 ms", "1.20 s"). */
export function formatMs(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (value < 1) return `${Math.round(value * 1000)} µs`;
  if (value < 1000) return `${value.toFixed(value < 10 ? 2 : 1)} ms`;
  return `${(value / 1000).toFixed(2)} s`;
}

/** A count with separators ("12,345"). */
export function formatInt(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return Math.round(value).toLocaleString('en-US');
}

const dtfCache = new Map<string, Intl.DateTimeFormat>();

function dtf(key: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  let f = dtfCache.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: EXCHANGE_TZ, ...options });
    dtfCache.set(key, f);
  }
  return f;
}

/** Parts of a UTC epoch-seconds time in exchange time (America/New_York). */
export function exchangeParts(epochSeconds: number): {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: string;
} {
  const f = dtf('parts', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    weekday: 'short',
  });
  const out: Record<string, string> = {};
  for (const p of f.formatToParts(new Date(epochSeconds * 1000))) out[p.type] = p.value;
  return {
    year: Number(out.year),
    month: Number(out.month),
    day: Number(out.day),
    hour: Number(out.hour) % 24,
    minute: Number(out.minute),
    weekday: out.weekday ?? '',
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** "2024-01-02" — the exchange-time calendar date of an epoch-seconds time. */
export function exchangeDate(epochSeconds: number): string {
  const p = exchangeParts(epochSeconds);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

/** "09:30" — the exchange-time clock of an epoch-seconds time. */
export function exchangeClock(epochSeconds: number): string {
  const p = exchangeParts(epochSeconds);
  return `${pad(p.hour)}:${pad(p.minute)}`;
}

/** Whether a timeframe is daily or longer (its bars carry a date, not a clock time). */
export function isDaily(timeframe: string): boolean {
  return /^\d+[dw]$/.test(timeframe);
}

/** "2024-01-02 09:30 ET" (intraday) or "2024-01-02" (daily). */
export function formatExchangeTime(epochSeconds: number, timeframe = '1m'): string {
  if (isDaily(timeframe)) return exchangeDate(epochSeconds);
  return `${exchangeDate(epochSeconds)} ${exchangeClock(epochSeconds)} ET`;
}

/** Seconds since the epoch of an ISO 8601 timestamp ("2024-01-02T14:30:00Z"). */
export function isoToEpoch(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`invalid timestamp: ${iso}`);
  return Math.floor(ms / 1000);
}

/** ISO 8601 with Z of epoch seconds. */
export function epochToIso(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** A relative age ("3 s ago", "2 min ago"). */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} d ago`;
}

/** Timeframe → seconds (1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w). */
export function timeframeSeconds(timeframe: string): number {
  const m = /^(\d+)([mhdw])$/.exec(timeframe);
  if (!m) throw new Error(`invalid timeframe: ${timeframe}`);
  const n = Number(m[1]);
  const unit = { m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 'm' | 'h' | 'd' | 'w'];
  return n * unit;
}

export const SYMBOL_RE = /^[A-Z][A-Z0-9.-]{0,9}$/;

/** Parse "aapl, msft" into validated upper-case symbols; throws with a clear message. */
export function parseSymbols(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/[\s,]+/)) {
    const sym = raw.trim().toUpperCase();
    if (!sym) continue;
    if (!SYMBOL_RE.test(sym)) {
      throw new Error(
        `invalid symbol "${raw.trim()}": 1-10 characters, a letter first, then letters, digits, "." or "-"`,
      );
    }
    if (!out.includes(sym)) out.push(sym);
  }
  if (out.length === 0) throw new Error('enter at least one symbol');
  return out;
}
