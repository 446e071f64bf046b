import { useQuery } from '@tanstack/react-query';
import { api } from '../api/endpoints';

/** The symbol registry (`GET /api/v1/symbols`). */
export function useSymbols() {
  return useQuery({
    queryKey: ['symbols'],
    queryFn: ({ signal }) => api.symbols(signal),
    select: (d) => d.symbols,
    staleTime: 30_000,
  });
}

/** Active symbols, in registry order. */
export function activeSymbols(list: { symbol: string; active: boolean }[] | undefined): string[] {
  return (list ?? []).filter((s) => s.active !== false).map((s) => s.symbol);
}
