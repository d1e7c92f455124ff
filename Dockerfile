# cryptotrader — one image for paper and live (the mode comes from the config, chosen at run time).
# Build:  docker build -t cryptotrader:latest .
# Run:    ./run_paper_kraken_crypto.sh   or   ./run_live_kraken_crypto.sh
# 1. build the wheel (the package plus its bundle: configs, bundled data, nightly notebooks, the lock; see setup.py)
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# 2. the runtime: only runtime dependencies (requirements-runtime.txt: no jupyterlab, pytest, nbdev), the wheel not editable
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg \
    CRYPTOTRADER_HOME=/data NUMBA_CACHE_DIR=/tmp/numba-cache
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 trader
COPY requirements-runtime.txt /tmp/
RUN python -m pip install --no-cache-dir -r /tmp/requirements-runtime.txt
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels \
 && ln -s "$(python -c 'import cryptotrader.config as c; print(c.PROJECT_ROOT)')" /app && mkdir -p /data && chown -R trader /data
# /app is the installed bundle: `--config config/crypto/….yaml` in the run scripts resolves there
WORKDIR /app
USER trader
VOLUME ["/data"]

# verify the image at build time (python, packages, configs, bundled data, kernel)
RUN CRYPTOTRADER_HOME=/tmp/verify cryptotrader verify

# healthy while the service processes bars: its ledger's last bar is at most 2 h old (hourly bars; a replay that ended is "unhealthy")
HEALTHCHECK --interval=5m --timeout=30s --start-period=10m --retries=2 CMD ["cryptotrader", "health", "--max-age", "2h"]
# docker stop sends SIGTERM: the service finishes the bar in progress, commits it and exits 0 (tini forwards the signal)
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "cryptotrader"]
CMD ["paper", "--config", "config/crypto/paper.kraken.crypto.global.yaml"]
