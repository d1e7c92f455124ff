#!/usr/bin/env bash
# Paper trading on Kraken in a container (the seed's run_paper_kraken_crypto.sh).
# Data (ledger, logs, artifacts) persists in the named volume cryptotrader_paper_data.
set -euo pipefail
IMAGE="${IMAGE:-cryptotrader:latest}"
NAME="${NAME:-trading_app_paper_kraken_crypto}"
exec docker run -d --name "$NAME" --restart unless-stopped \
  -v cryptotrader_paper_data:/data \
  "$IMAGE" paper --config config/crypto/paper.kraken.crypto.global.yaml --realtime "$@"
