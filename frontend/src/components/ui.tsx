/** Small shared UI pieces: cards, loading and error states, status badges. */

import type { ReactNode } from 'react';
import { ApiError } from '../api/http';

export function Card({
  title,
  actions,
  children,
  className = '',
  bodyClassName = 'p-4',
  id,
}: {
  title?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  bodyClassName?: string;
  id?: string;
}) {
  const headingId = id ? `${id}-title` : undefined;
  return (
    <section className={`card min-w-0 ${className}`} aria-labelledby={title ? headingId : undefined} id={id}>
      {(title || actions) && (
        <header className="flex min-h-11 items-center justify-between gap-2 border-b border-slate-200 px-4 py-2 dark:border-slate-800">
          {title && (
            <h2 id={headingId} className="card-title">
              {title}
            </h2>
          )}
          {actions && <div className="flex items-center gap-2">{actions}</div>}
        </header>
      )}
      <div className={bodyClassName}>{children}</div>
    </section>
  );
}

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return (
    <span role="status" className="inline-flex items-center gap-2 text-sm muted">
      <span
        aria-hidden="true"
        className="size-4 animate-spin rounded-full border-2 border-slate-300 border-t-sky-600 dark:border-slate-700 dark:border-t-sky-400"
      />
      {label}…
    </span>
  );
}

export function LoadingBlock({ label = 'Loading', className = 'h-40' }: { label?: string; className?: string }) {
  return (
    <div className={`flex items-center justify-center ${className}`}>
      <Spinner label={label} />
    </div>
  );
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

export function ErrorState({ error, onRetry, title = 'Something went wrong' }: { error: unknown; onRetry?: () => void; title?: string }) {
  return (
    <div
      role="alert"
      className="flex flex-col items-start gap-2 rounded-lg border border-rose-200 bg-rose-50 p-3 text-sm text-rose-900 dark:border-rose-900 dark:bg-rose-950/60 dark:text-rose-100"
    >
      <p className="font-semibold">{title}</p>
      <p className="break-words">{errorMessage(error)}</p>
      {onRetry && (
        <button type="button" className="btn h-8" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function EmptyState({ children }: { children: ReactNode }) {
  return <div className="flex min-h-24 items-center justify-center p-4 text-center text-sm muted">{children}</div>;
}

const STATUS_STYLE: Record<string, string> = {
  ok: 'bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-300 ring-emerald-600/30',
  degraded: 'bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-300 ring-amber-600/30',
  down: 'bg-rose-100 text-rose-900 dark:bg-rose-950 dark:text-rose-300 ring-rose-600/30',
  unknown: 'bg-slate-100 text-slate-800 dark:bg-slate-800 dark:text-slate-200 ring-slate-500/30',
};

export function StatusBadge({ status }: { status: string | undefined }) {
  const s = (status ?? 'unknown').toLowerCase();
  const key = ['ok', 'up', 'healthy', 'running', 'connected', 'true', 'active', 'open'].includes(s)
    ? 'ok'
    : ['degraded', 'warning', 'starting', 'stale'].includes(s)
      ? 'degraded'
      : ['down', 'error', 'failed', 'false', 'stopped'].includes(s)
        ? 'down'
        : 'unknown';
  return (
    <span className={`inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-semibold ring-1 ring-inset ${STATUS_STYLE[key]}`}>
      <span aria-hidden="true" className="size-1.5 rounded-full bg-current" />
      {status ?? 'unknown'}
    </span>
  );
}

export function PageHeader({ title, description, actions }: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-4 flex flex-wrap items-end justify-between gap-3">
      <div className="min-w-0">
        <h1 className="text-xl font-semibold tracking-tight">{title}</h1>
        {description && <p className="mt-0.5 text-sm muted">{description}</p>}
      </div>
      {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
    </div>
  );
}
