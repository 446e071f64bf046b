import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode, lazy } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { Layout } from './components/Layout';
import { RouteError } from './components/RouteError';
import './index.css';
import { live } from './lib/live';
import { applyTheme } from './lib/theme';
import { useSettings } from './stores/settings';

const Dashboard = lazy(() => import('./pages/Dashboard'));
const History = lazy(() => import('./pages/History'));
const Symbols = lazy(() => import('./pages/Symbols'));
const Monitoring = lazy(() => import('./pages/Monitoring'));
const Search = lazy(() => import('./pages/Search'));
const Console = lazy(() => import('./pages/Console'));
const Settings = lazy(() => import('./pages/Settings'));
const NotFound = lazy(() => import('./pages/NotFound'));

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      retry: (count, err) => count < 2 && !(err as { status?: number }).status?.toString().startsWith('4'),
      refetchOnWindowFocus: false,
      staleTime: 10_000,
    },
  },
});

const router = createBrowserRouter([
  {
    path: '/',
    element: <Layout />,
    errorElement: <RouteError />,
    children: [
      { index: true, element: <Dashboard /> },
      { path: 'history', element: <History /> },
      { path: 'symbols', element: <Symbols /> },
      { path: 'monitoring', element: <Monitoring /> },
      { path: 'search', element: <Search /> },
      { path: 'console', element: <Console /> },
      { path: 'settings', element: <Settings /> },
      { path: '*', element: <NotFound /> },
    ],
  },
]);

applyTheme(useSettings.getState().theme);
useSettings.subscribe((s, prev) => {
  if (s.theme !== prev.theme) applyTheme(s.theme);
});
live.start();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
