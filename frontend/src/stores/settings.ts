/** User settings kept in localStorage: API base URL and key, theme, defaults. */

import { create } from 'zustand';
import { createJSONStorage, persist } from 'zustand/middleware';

export type ThemeChoice = 'system' | 'light' | 'dark';

export const TIMEFRAMES = ['1m', '5m', '15m', '1h', '1d'] as const;
export type Timeframe = (typeof TIMEFRAMES)[number];

/** Indicator choices offered on the dashboard (keys follow CONTRACT.md names). */
export const INDICATORS = {
  sma_20: { label: 'SMA 20', pane: 'price' },
  sma_50: { label: 'SMA 50', pane: 'price' },
  ema_20: { label: 'EMA 20', pane: 'price' },
  bb_20_2: { label: 'Bollinger 20,2', pane: 'price' },
  vwap: { label: 'VWAP', pane: 'price' },
  rsi_14: { label: 'RSI 14', pane: 'rsi' },
  macd_12_26_9: { label: 'MACD 12,26,9', pane: 'macd' },
} as const;
export type IndicatorId = keyof typeof INDICATORS;
export const INDICATOR_IDS = Object.keys(INDICATORS) as IndicatorId[];

export interface SettingsState {
  apiBase: string;
  apiKey: string;
  theme: ThemeChoice;
  defaultSymbols: string[];
  defaultTimeframe: Timeframe;
  defaultIndicators: IndicatorId[];
  showPatterns: boolean;
  set: (patch: Partial<Omit<SettingsState, 'set' | 'reset'>>) => void;
  reset: () => void;
}

export const DEFAULTS = {
  apiBase: '',
  apiKey: '',
  theme: 'system' as ThemeChoice,
  defaultSymbols: [] as string[],
  defaultTimeframe: '1m' as Timeframe,
  defaultIndicators: ['sma_20', 'ema_20', 'rsi_14'] as IndicatorId[],
  showPatterns: true,
};

export const useSettings = create<SettingsState>()(
  persist(
    (set) => ({
      ...DEFAULTS,
      set: (patch) => set(patch),
      reset: () => set({ ...DEFAULTS }),
    }),
    {
      name: 'jonbu-settings',
      version: 1,
      storage: createJSONStorage(() => localStorage),
      partialize: ({ set: _s, reset: _r, ...rest }) => rest,
    },
  ),
);

/** The API base without a trailing slash ("" means the page's own origin). */
export function normalizeBase(base: string): string {
  return base.trim().replace(/\/+$/, '');
}

/** Validate a user-entered API base URL: empty, or an http(s) URL. */
export function validateBase(base: string): string | null {
  const b = base.trim();
  if (!b) return null;
  try {
    const u = new URL(b);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'the URL must start with http:// or https://';
    return null;
  } catch {
    return 'not a valid URL (e.g. http://127.0.0.1:8000)';
  }
}

/** The WebSocket URL for `/ws` given the API base and key. */
export function wsUrl(apiBase: string, apiKey: string, origin: string): string {
  const base = normalizeBase(apiBase) || origin;
  const url = new URL(`${base}/ws`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (apiKey) url.searchParams.set('api_key', apiKey);
  return url.toString();
}
