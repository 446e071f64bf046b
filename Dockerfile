# syntax=docker/dockerfile:1.7
# jonbu-ohlcv: one image for the API, the stream daemon, Dagster and the CLI.
#   docker build -t jonbu-ohlcv .
#   docker run -p 8000:8000 jonbu-ohlcv up --host 0.0.0.0 --no-dagster

# --- 1. the dashboard -----------------------------------------------------------
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# --- 2. Python dependencies ------------------------------------------------------
FROM python:3.11-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# a C compiler for the C helpers of setup.py (incremental enrichment, live aggregation, frame decoding)
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU-only PyTorch first, so sentence-transformers does not pull CUDA wheels.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY jonbu_core ./jonbu_core
COPY jonbu_api ./jonbu_api
COPY jonbu_stream ./jonbu_stream
COPY jonbu_pipelines ./jonbu_pipelines
COPY jonbu_cli ./jonbu_cli
RUN pip install .

# --- 3. runtime ------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    JONBU_DATA_DIR=/data \
    JONBU_LOG_FORMAT=json \
    DAGSTER_HOME=/data/dagster
RUN groupadd --system --gid 10001 jonbu \
 && useradd --system --uid 10001 --gid jonbu --home-dir /app --shell /usr/sbin/nologin jonbu \
 && mkdir -p /data/dagster /app \
 && chown -R jonbu:jonbu /data /app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY --chown=jonbu:jonbu workspace.yaml ./
COPY --chown=jonbu:jonbu dbt ./dbt
COPY --chown=jonbu:jonbu --from=frontend /src/frontend/dist ./frontend/dist
USER jonbu
VOLUME ["/data"]
EXPOSE 8000 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=2).status == 200 else 1)"
ENTRYPOINT ["jonbu-ohlcv"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
