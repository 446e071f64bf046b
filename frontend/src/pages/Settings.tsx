/** Settings: API base URL and key (stored in this browser), theme, defaults. */

import { useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Card, PageHeader } from '../components/ui';
import { parseSymbols } from '../lib/format';
import { INDICATOR_IDS, INDICATORS, TIMEFRAMES, normalizeBase, useSettings, validateBase, type IndicatorId, type ThemeChoice, type Timeframe } from '../stores/settings';

type TestState = { state: 'idle' } | { state: 'busy' } | { state: 'ok'; text: string } | { state: 'fail'; text: string };

export default function Settings() {
  const s = useSettings();
  const qc = useQueryClient();
  const [apiBase, setApiBase] = useState(s.apiBase);
  const [apiKey, setApiKey] = useState(s.apiKey);
  const [showKey, setShowKey] = useState(false);
  const [symbolsText, setSymbolsText] = useState(s.defaultSymbols.join(', '));
  const [timeframe, setTimeframe] = useState<Timeframe>(s.defaultTimeframe);
  const [indicators, setIndicators] = useState<IndicatorId[]>(s.defaultIndicators);
  const [patterns, setPatterns] = useState(s.showPatterns);
  const [saved, setSaved] = useState(false);
  const [test, setTest] = useState<TestState>({ state: 'idle' });

  const baseError = validateBase(apiBase);
  let symbolsError: string | null = null;
  let symbols: string[] = [];
  if (symbolsText.trim()) {
    try {
      symbols = parseSymbols(symbolsText);
    } catch (err) {
      symbolsError = (err as Error).message;
    }
  }

  const save = (e: FormEvent) => {
    e.preventDefault();
    if (baseError || symbolsError) return;
    const changedConn = normalizeBase(apiBase) !== normalizeBase(s.apiBase) || apiKey.trim() !== s.apiKey;
    s.set({ apiBase: normalizeBase(apiBase), apiKey: apiKey.trim(), defaultSymbols: symbols, defaultTimeframe: timeframe, defaultIndicators: indicators, showPatterns: patterns });
    if (changedConn) qc.clear();
    setSaved(true);
    setTimeout(() => setSaved(false), 2500);
  };

  const testConnection = async () => {
    if (baseError) return;
    setTest({ state: 'busy' });
    const base = normalizeBase(apiBase) || window.location.origin;
    try {
      const t0 = performance.now();
      const health = await fetch(`${base}/api/v1/health`);
      const ms = Math.round(performance.now() - t0);
      if (!health.ok) throw new Error(`health answered ${health.status}`);
      const body = (await health.json()) as { status?: string };
      const key = apiKey.trim();
      const sym = await fetch(`${base}/api/v1/symbols`, { headers: key ? { 'X-API-Key': key } : {} });
      const auth = sym.ok ? 'the key is accepted' : sym.status === 401 || sym.status === 403 ? `the key is refused (${sym.status})` : `symbols answered ${sym.status}`;
      setTest({ state: sym.ok ? 'ok' : 'fail', text: `Reached ${base} in ${ms} ms: status ${body.status ?? '?'}; ${auth}.` });
    } catch (err) {
      setTest({ state: 'fail', text: `Cannot reach ${base}: ${(err as Error).message}` });
    }
  };

  const themes: { id: ThemeChoice; label: string }[] = [
    { id: 'system', label: 'System' },
    { id: 'light', label: 'Light' },
    { id: 'dark', label: 'Dark' },
  ];

  return (
    <div className="max-w-3xl space-y-4">
      <PageHeader title="Settings" description="Stored in this browser only (localStorage)." />
      <Card title="Appearance">
        <fieldset>
          <legend className="label">Theme</legend>
          <div className="seg" role="radiogroup" aria-label="Theme">
            {themes.map((t) => (
              <button key={t.id} type="button" role="radio" aria-checked={s.theme === t.id} className="seg-btn px-4" onClick={() => s.set({ theme: t.id })} data-testid={`theme-${t.id}`}>
                {t.label}
              </button>
            ))}
          </div>
          <p className="mt-1 text-xs muted">“System” follows your operating system’s light/dark preference.</p>
        </fieldset>
      </Card>
      <form onSubmit={save} className="space-y-4" noValidate>
        <Card title="Connection">
          <div className="grid gap-4">
            <div>
              <label htmlFor="set-base" className="label">
                API base URL
              </label>
              <input
                id="set-base"
                className="input font-mono"
                value={apiBase}
                onChange={(e) => setApiBase(e.target.value)}
                placeholder={`empty = this site (${window.location.origin})`}
                aria-invalid={baseError ? true : undefined}
                aria-describedby="set-base-help"
                inputMode="url"
                spellCheck={false}
              />
              <p id="set-base-help" className={`mt-1 text-xs ${baseError ? 'down' : 'muted'}`}>
                {baseError ?? 'Where the jonbu-ohlcv API runs. The WebSocket URL is derived from it.'}
              </p>
            </div>
            <div>
              <label htmlFor="set-key" className="label">
                API key
              </label>
              <div className="flex gap-2">
                <input id="set-key" className="input font-mono" type={showKey ? 'text' : 'password'} value={apiKey} onChange={(e) => setApiKey(e.target.value)} autoComplete="off" spellCheck={false} aria-describedby="set-key-help" />
                <button type="button" className="btn shrink-0" onClick={() => setShowKey((v) => !v)} aria-pressed={showKey}>
                  {showKey ? 'Hide' : 'Show'}
                </button>
              </div>
              <p id="set-key-help" className="mt-1 text-xs muted">
                Needed when the server runs with JONBU_AUTH=on (create one with <code className="font-mono">jonbu-ohlcv keys create NAME</code>). Sent as X-API-Key, and as api_key on the WebSocket.
              </p>
            </div>
            <div className="flex flex-wrap items-center gap-3">
              <button type="button" className="btn" onClick={testConnection} disabled={Boolean(baseError) || test.state === 'busy'}>
                {test.state === 'busy' ? 'Testing…' : 'Test connection'}
              </button>
              {(test.state === 'ok' || test.state === 'fail') && (
                <p role="status" className={`text-sm ${test.state === 'ok' ? 'up' : 'down'}`}>
                  {test.text}
                </p>
              )}
            </div>
          </div>
        </Card>
        <Card title="Defaults">
          <div className="grid gap-4">
            <div>
              <label htmlFor="set-symbols" className="label">
                Watchlist symbols
              </label>
              <input
                id="set-symbols"
                className="input uppercase placeholder:normal-case"
                value={symbolsText}
                onChange={(e) => setSymbolsText(e.target.value)}
                placeholder="empty = every active symbol"
                aria-invalid={symbolsError ? true : undefined}
                aria-describedby="set-symbols-help"
                spellCheck={false}
              />
              <p id="set-symbols-help" className={`mt-1 text-xs ${symbolsError ? 'down' : 'muted'}`}>
                {symbolsError ?? 'Comma separated; the first one opens on the dashboard.'}
              </p>
            </div>
            <div>
              <label htmlFor="set-tf" className="label">
                Default timeframe
              </label>
              <select id="set-tf" className="input w-32" value={timeframe} onChange={(e) => setTimeframe(e.target.value as Timeframe)}>
                {TIMEFRAMES.map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </select>
            </div>
            <fieldset>
              <legend className="label">Indicators shown by default</legend>
              <div className="grid grid-cols-2 gap-2 sm:grid-cols-3">
                {INDICATOR_IDS.map((id) => (
                  <label key={id} className="flex items-center gap-2 text-sm">
                    <input type="checkbox" className="size-4 accent-sky-700" checked={indicators.includes(id)} onChange={(e) => setIndicators(e.target.checked ? [...indicators, id] : indicators.filter((x) => x !== id))} />
                    {INDICATORS[id].label}
                  </label>
                ))}
                <label className="flex items-center gap-2 text-sm">
                  <input type="checkbox" className="size-4 accent-sky-700" checked={patterns} onChange={(e) => setPatterns(e.target.checked)} />
                  Pattern markers
                </label>
              </div>
            </fieldset>
          </div>
        </Card>
        <div className="flex flex-wrap items-center gap-3">
          <button type="submit" className="btn-primary" disabled={Boolean(baseError || symbolsError)}>
            Save
          </button>
          <button
            type="button"
            className="btn"
            onClick={() => {
              s.reset();
              window.location.reload();
            }}
          >
            Reset to defaults
          </button>
          {saved && (
            <p role="status" className="up text-sm">
              Saved.
            </p>
          )}
        </div>
      </form>
    </div>
  );
}
