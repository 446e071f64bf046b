/** Theme: the user's choice (system/light/dark) resolved to a `dark` class on <html>. */

import { create } from 'zustand';
import type { ThemeChoice } from '../stores/settings';

export type Resolved = 'light' | 'dark';

function systemPrefersDark(): boolean {
  return typeof window !== 'undefined' && typeof window.matchMedia === 'function'
    ? window.matchMedia('(prefers-color-scheme: dark)').matches
    : false;
}

/** Resolve a choice against the OS preference. */
export function resolveTheme(choice: ThemeChoice, prefersDark = systemPrefersDark()): Resolved {
  if (choice === 'system') return prefersDark ? 'dark' : 'light';
  return choice;
}

export const useResolvedTheme = create<{ theme: Resolved }>()(() => ({
  theme: typeof document !== 'undefined' && document.documentElement.classList.contains('dark') ? 'dark' : 'light',
}));

let mediaCleanup: (() => void) | null = null;

/** Apply a choice now and, for `system`, follow OS changes. */
export function applyTheme(choice: ThemeChoice): void {
  const set = () => {
    const theme = resolveTheme(choice);
    document.documentElement.classList.toggle('dark', theme === 'dark');
    document.documentElement.style.colorScheme = theme;
    useResolvedTheme.setState({ theme });
  };
  mediaCleanup?.();
  mediaCleanup = null;
  set();
  if (choice === 'system' && typeof window.matchMedia === 'function') {
    const mq = window.matchMedia('(prefers-color-scheme: dark)');
    mq.addEventListener('change', set);
    mediaCleanup = () => mq.removeEventListener('change', set);
  }
}
