import { isRouteErrorResponse, Link, useRouteError } from 'react-router';

/** Shown when a route fails to load or render (e.g. a lazy chunk cannot be fetched). */
export function RouteError() {
  const error = useRouteError();
  const message = isRouteErrorResponse(error)
    ? `${error.status} ${error.statusText}`
    : error instanceof Error
      ? error.message
      : String(error);
  return (
    <main className="mx-auto flex min-h-dvh max-w-lg flex-col items-start justify-center gap-3 p-6">
      <h1 className="text-xl font-semibold">This page could not be shown</h1>
      <p className="muted break-words">{message}</p>
      <div className="flex gap-2">
        <button type="button" className="btn-primary" onClick={() => window.location.reload()}>
          Reload
        </button>
        <Link className="btn" to="/">
          Dashboard
        </Link>
      </div>
    </main>
  );
}
