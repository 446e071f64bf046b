-- 1-minute bars of the lake with their exchange session date (America/New_York).
select
    symbol,
    ts,
    open,
    high,
    low,
    close,
    volume,
    trade_count,
    vwap,
    source,
    cast(timezone('{{ var("exchange_tz") }}', ts) as date) as session_date
from {{ source('lake', 'bars') }}
where timeframe = '1m'
