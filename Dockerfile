# cryptotrader — one image for paper and live (the mode comes from the config, chosen at run time).
# Build:  docker build -t cryptotrader:latest .
# Run:    ./run_paper_kraken_crypto.sh   or   ./run_live_kraken_crypto.sh
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg \
    CRYPTOTRADER_HOME=/data NUMBA_CACHE_DIR=/tmp/numba-cache
RUN apt-get update && apt-get install -y --no-install-recommends make git tini && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 trader
WORKDIR /app

# the pinned stack first (cached layer), then the project
COPY requirements.txt ./
RUN python -m pip install --no-cache-dir -r requirements.txt
COPY . .
RUN python -m pip install --no-cache-dir --no-deps -e . && mkdir -p /data && chown -R trader /data
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
