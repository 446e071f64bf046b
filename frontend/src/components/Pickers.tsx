/** Symbol and timeframe pickers shared by the Dashboard and History pages. */

import { useId } from 'react';
import { TIMEFRAMES } from '../stores/settings';

export function SymbolSelect({ value, options, onChange, label = 'Symbol' }: { value: string; options: string[]; onChange: (s: string) => void; label?: string }) {
  const id = useId();
  const list = options.includes(value) || !value ? options : [value, ...options];
  return (
    <div className="flex items-center gap-2">
      <label htmlFor={id} className="text-xs font-medium text-slate-700 dark:text-slate-300">
        {label}
      </label>
      <select
        id={id}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        className="input h-9 w-28 font-semibold"
        data-testid="symbol-select"
        disabled={list.length === 0}
      >
        {list.length === 0 && <option value="">—</option>}
        {list.map((s) => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </select>
    </div>
  );
}

export function TimeframeSelect({ value, onChange, options = TIMEFRAMES }: { value: string; onChange: (tf: string) => void; options?: readonly string[] }) {
  return (
    <div role="group" aria-label="Timeframe" className="seg" data-testid="timeframe-select">
      {options.map((tf) => (
        <button key={tf} type="button" className="seg-btn" aria-pressed={tf === value} onClick={() => onChange(tf)}>
          {tf}
        </button>
      ))}
    </div>
  );
}
