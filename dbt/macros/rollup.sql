{#
  Roll 1-minute bars up to `timeframe`, with the same rules as jonbu_core.rollup:
  first open and last close by ts, max high, min low, summed volume, summed trade_count
  (null when every input is null), vwap weighted by volume over rows that have one.
  Intraday buckets are aligned to the UTC epoch; a 1d bar is a session labelled by its
  date at midnight America/New_York.
#}
{% macro bucket_expr(timeframe, ts='ts') -%}
  {%- set seconds = {'1m': 60, '5m': 300, '15m': 900, '30m': 1800, '1h': 3600, '4h': 14400} -%}
  {%- if timeframe in seconds -%}
    timezone('UTC', make_timestamp(epoch_us({{ ts }}) - epoch_us({{ ts }}) % {{ seconds[timeframe] * 1000000 }}))
  {%- elif timeframe == '1d' -%}
    timezone('{{ var("exchange_tz") }}', date_trunc('day', timezone('{{ var("exchange_tz") }}', {{ ts }})))
  {%- else -%}
    {{ exceptions.raise_compiler_error("unsupported timeframe " ~ timeframe) }}
  {%- endif -%}
{%- endmacro %}

{% macro rollup_bars(timeframe) -%}
with bars as (
    select *, {{ bucket_expr(timeframe) }} as bucket
    from {{ ref('stg_bars_1m') }}
)
select
    symbol,
    '{{ timeframe }}' as timeframe,
    bucket as ts,
    arg_min(open, ts) as open,
    max(high) as high,
    min(low) as low,
    arg_max(close, ts) as close,
    sum(volume) as volume,
    cast(sum(trade_count) as bigint) as trade_count,
    case
        when sum(volume) filter (where vwap is not null) > 0
        then sum(vwap * volume) filter (where vwap is not null)
             / sum(volume) filter (where vwap is not null)
    end as vwap,
    arg_min(source, ts) as source,
    count(*) as bar_count
from bars
group by symbol, bucket
order by symbol, ts
{%- endmacro %}
