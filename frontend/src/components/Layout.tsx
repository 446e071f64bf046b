/** The app shell: navigation (sidebar on wide screens, menu on phones), header, content. */

import { Suspense, useEffect, useState, type ComponentType } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router';
import { useResolvedTheme } from '../lib/theme';
import { useSettings } from '../stores/settings';
import { ConnectionIndicator } from './ConnectionIndicator';
import {
  ChartIcon,
  CloseIcon,
  GearIcon,
  HistoryIcon,
  ListIcon,
  MenuIcon,
  MoonIcon,
  PulseIcon,
  SearchIcon,
  SunIcon,
  TerminalIcon,
} from './icons';
import { LoadingBlock } from './ui';

export const NAV: { to: string; label: string; icon: ComponentType }[] = [
  { to: '/', label: 'Dashboard', icon: ChartIcon },
  { to: '/history', label: 'History', icon: HistoryIcon },
  { to: '/symbols', label: 'Symbols', icon: ListIcon },
  { to: '/monitoring', label: 'Monitoring', icon: PulseIcon },
  { to: '/search', label: 'Search', icon: SearchIcon },
  { to: '/console', label: 'Console', icon: TerminalIcon },
  { to: '/settings', label: 'Settings', icon: GearIcon },
];

function Brand() {
  return (
    <span className="flex items-center gap-2 font-semibold tracking-tight">
      <svg viewBox="0 0 32 32" width="26" height="26" aria-hidden="true">
        <rect width="32" height="32" rx="7" className="fill-slate-900 dark:fill-slate-800" />
        <rect x="7" y="10" width="4" height="12" rx="1" fill="#34d399" />
        <rect x="8.5" y="6" width="1" height="20" fill="#34d399" />
        <rect x="14" y="13" width="4" height="8" rx="1" fill="#fb7185" />
        <rect x="15.5" y="9" width="1" height="16" fill="#fb7185" />
        <rect x="21" y="8" width="4" height="11" rx="1" fill="#34d399" />
        <rect x="22.5" y="5" width="1" height="18" fill="#34d399" />
      </svg>
      <span>
        jonbu<span className="text-sky-700 dark:text-sky-400">·ohlcv</span>
      </span>
    </span>
  );
}

function NavItems({ onNavigate }: { onNavigate?: () => void }) {
  return (
    <ul className="flex flex-col gap-0.5">
      {NAV.map(({ to, label, icon: Icon }) => (
        <li key={to}>
          <NavLink
            to={to}
            end={to === '/'}
            onClick={onNavigate}
            className={({ isActive }) =>
              `flex h-10 items-center gap-3 rounded-lg px-3 text-sm font-medium transition-colors ${
                isActive
                  ? 'bg-sky-100 text-sky-900 dark:bg-sky-950 dark:text-sky-200'
                  : 'text-slate-700 hover:bg-slate-100 hover:text-slate-950 dark:text-slate-300 dark:hover:bg-slate-800 dark:hover:text-white'
              }`
            }
          >
            <Icon />
            {label}
          </NavLink>
        </li>
      ))}
    </ul>
  );
}

function ThemeToggle() {
  const theme = useResolvedTheme((s) => s.theme);
  const set = useSettings((s) => s.set);
  const next = theme === 'dark' ? 'light' : 'dark';
  return (
    <button
      type="button"
      className="btn size-9 px-0"
      onClick={() => set({ theme: next })}
      aria-label={`Switch to ${next} theme`}
      title={`Switch to ${next} theme`}
      data-testid="theme-toggle"
    >
      {theme === 'dark' ? <SunIcon /> : <MoonIcon />}
    </button>
  );
}

export function Layout() {
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  useEffect(() => setMenuOpen(false), [location.pathname]);
  const current = NAV.find((n) => (n.to === '/' ? location.pathname === '/' : location.pathname.startsWith(n.to)));
  useEffect(() => {
    document.title = current ? `${current.label} · jonbu-ohlcv` : 'jonbu-ohlcv';
  }, [current]);

  return (
    <div className="min-h-dvh lg:grid lg:grid-cols-[15rem_minmax(0,1fr)]">
      <a
        href="#main"
        className="sr-only z-50 rounded bg-sky-700 px-3 py-2 text-white focus:not-sr-only focus:fixed focus:top-2 focus:left-2"
      >
        Skip to content
      </a>
      <aside className="hidden border-r border-slate-200 bg-white lg:sticky lg:top-0 lg:flex lg:h-dvh lg:flex-col dark:border-slate-800 dark:bg-slate-900">
        <div className="flex h-14 items-center px-5">
          <Brand />
        </div>
        <nav aria-label="Main" className="flex-1 overflow-y-auto px-3 py-2">
          <NavItems />
        </nav>
        <div className="border-t border-slate-200 p-4 text-xs muted dark:border-slate-800">Times in exchange time (ET)</div>
      </aside>
      <div className="flex min-w-0 flex-col">
        <header className="sticky top-0 z-30 flex h-14 items-center gap-3 border-b border-slate-200 bg-white/90 px-3 backdrop-blur sm:px-5 dark:border-slate-800 dark:bg-slate-900/90">
          <button
            type="button"
            className="btn size-9 px-0 lg:hidden"
            aria-expanded={menuOpen}
            aria-controls="mobile-nav"
            aria-label={menuOpen ? 'Close menu' : 'Open menu'}
            onClick={() => setMenuOpen((o) => !o)}
          >
            {menuOpen ? <CloseIcon /> : <MenuIcon />}
          </button>
          <div className="lg:hidden">
            <Brand />
          </div>
          <p className="hidden text-sm font-medium lg:block">{current?.label}</p>
          <div className="ml-auto flex items-center gap-2">
            <ConnectionIndicator />
            <ThemeToggle />
          </div>
        </header>
        {menuOpen && (
          <nav
            id="mobile-nav"
            aria-label="Main"
            className="fixed inset-x-0 top-14 z-40 border-b border-slate-200 bg-white p-3 shadow-lg lg:hidden dark:border-slate-800 dark:bg-slate-900"
          >
            <NavItems onNavigate={() => setMenuOpen(false)} />
          </nav>
        )}
        <main id="main" tabIndex={-1} className="min-w-0 flex-1 p-3 outline-none sm:p-5">
          <Suspense fallback={<LoadingBlock label="Loading page" className="h-96" />}>
            <Outlet />
          </Suspense>
        </main>
      </div>
    </div>
  );
}
