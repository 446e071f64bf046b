/** The live-connection badge: WebSocket state, retry countdown and message age. */

import { useEffect, useState } from 'react';
import { live, useLiveStats } from '../lib/live';

const LABEL: Record<string, string> = {
  idle: 'Idle',
  connecting: 'Connecting',
  open: 'Live',
  reconnecting: 'Reconnecting',
  closed: 'Offline',
};

export function ConnectionIndicator({ compact = false }: { compact?: boolean }) {
  const stats = useLiveStats();
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const status = stats.status;
  const color =
    status === 'open'
      ? 'bg-emerald-500'
      : status === 'connecting' || status === 'reconnecting'
        ? 'bg-amber-500'
        : 'bg-rose-500';
  const retryIn = stats.nextRetryAt ? Math.max(0, Math.ceil((stats.nextRetryAt - now) / 1000)) : null;
  const authProblem = /\b44(01|03)\b/.test(stats.lastError ?? '');
  const detail = authProblem
    ? 'API key?'
    : status === 'reconnecting' && retryIn !== null
      ? `retry in ${retryIn}s`
      : status === 'open' && stats.lastMessageAt
        ? `${Math.max(0, Math.round((now - stats.lastMessageAt) / 1000))}s ago`
        : '';
  return (
    <div className="flex items-center gap-2" data-testid="connection" data-status={status}>
      <span role="status" aria-live="polite" title={stats.lastError ?? undefined} className="inline-flex items-center gap-2 rounded-full border border-slate-200 bg-white px-2.5 py-1 text-xs font-medium dark:border-slate-700 dark:bg-slate-900">
        <span className="relative flex size-2" aria-hidden="true">
          {status === 'open' && <span className={`absolute inline-flex size-full animate-ping rounded-full opacity-60 ${color}`} />}
          <span className={`relative inline-flex size-2 rounded-full ${color}`} />
        </span>
        <span>{LABEL[status] ?? status}</span>
        {!compact && detail && <span className="num muted hidden w-20 sm:inline">{detail}</span>}
      </span>
      {status === 'reconnecting' && (
        <button type="button" className="btn h-7 px-2 text-xs" onClick={() => live.restart()}>
          Retry now
        </button>
      )}
    </div>
  );
}
