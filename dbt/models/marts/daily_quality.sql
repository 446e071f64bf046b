-- Per symbol and exchange session: 1m bars present vs expected, gaps, duplicates and OHLC
-- violations. One row for every session between a symbol's first and last stored day, so a
-- session with no bars at all shows up with coverage 0.
with sessions as (
    select session_date, open_utc, close_utc, expected_minutes
    from {{ ref('exchange_sessions') }}
),

bars as (
    select * from {{ ref('stg_bars_1m') }}
),

span as (
    select symbol, min(session_date) as first_day, max(session_date) as last_day
    from bars
    group by symbol
),

grid as (
    select span.symbol, s.session_date, s.open_utc, s.close_utc, s.expected_minutes
    from span
    join sessions as s on s.session_date between span.first_day and span.last_day
),

located as (
    select
        b.*,
        g.open_utc,
        g.close_utc,
        coalesce(b.ts >= g.open_utc and b.ts < g.close_utc, false) as in_session,
        count(*) over (partition by b.symbol, b.ts) as key_count
    from bars as b
    left join sessions as g on g.session_date = b.session_date
),

in_session as (
    select
        *,
        lag(ts) over (partition by symbol, session_date order by ts) as prev_ts
    from (select distinct on (symbol, ts) * from located where in_session order by symbol, ts)
),

per_day as (
    select
        symbol,
        session_date,
        count(*) as bars,
        min(ts) as first_ts,
        max(ts) as last_ts,
        sum(volume) as volume,
        sum(case when prev_ts is not null and ts - prev_ts > interval 1 minute then 1 else 0 end)
            as inner_gaps,
        coalesce(max(case when prev_ts is not null
                          then cast(epoch(ts - prev_ts) / 60 as bigint) - 1 end), 0)
            as max_inner_gap
    from in_session
    group by symbol, session_date
),

checks as (
    select
        symbol,
        session_date,
        count(*) filter (where not in_session) as off_session_bars,
        count(*) filter (where key_count > 1) - count(distinct ts) filter (where key_count > 1)
            as duplicate_bars,
        count(*) filter (
            where high < low or open > high or open < low or close > high or close < low
               or volume < 0
        ) as ohlc_violations
    from located
    group by symbol, session_date
)

select
    g.symbol,
    g.session_date,
    g.open_utc,
    g.close_utc,
    g.expected_minutes,
    cast(coalesce(d.bars, 0) as bigint) as bars,
    g.expected_minutes - coalesce(d.bars, 0) as missing_minutes,
    round(coalesce(d.bars, 0) / g.expected_minutes, 6) as coverage,
    cast(case
        when d.bars is null then 1
        else d.inner_gaps
             + case when d.first_ts > g.open_utc then 1 else 0 end
             + case when d.last_ts < g.close_utc - interval 1 minute then 1 else 0 end
    end as bigint) as gaps,
    cast(case
        when d.bars is null then g.expected_minutes
        else greatest(
            d.max_inner_gap,
            cast(epoch(d.first_ts - g.open_utc) / 60 as bigint),
            cast(epoch(g.close_utc - d.last_ts) / 60 as bigint) - 1
        )
    end as bigint) as max_gap_minutes,
    cast(coalesce(c.off_session_bars, 0) as bigint) as off_session_bars,
    cast(coalesce(c.duplicate_bars, 0) as bigint) as duplicate_bars,
    cast(coalesce(c.ohlc_violations, 0) as bigint) as ohlc_violations,
    d.first_ts,
    d.last_ts,
    coalesce(d.volume, 0) as volume
from grid as g
left join per_day as d on d.symbol = g.symbol and d.session_date = g.session_date
left join checks as c on c.symbol = g.symbol and c.session_date = g.session_date
order by g.symbol, g.session_date
