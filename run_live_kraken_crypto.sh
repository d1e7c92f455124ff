#!/usr/bin/env bash
# Live trading on Kraken in a container (the seed's run_live_kraken_crypto.sh).
# Credentials: KRAKEN_API_KEY and KRAKEN_API_SECRET from this shell's environment (never written
# to disk or to the image), or mount a 0600 key file and set KRAKEN_API_KEY_FILE.
set -euo pipefail
: "${KRAKEN_API_KEY:?set KRAKEN_API_KEY (and KRAKEN_API_SECRET) first}"
: "${KRAKEN_API_SECRET:?set KRAKEN_API_SECRET first}"
IMAGE="${IMAGE:-cryptotrader:latest}"
NAME="${NAME:-trading_app_live_kraken_crypto}"
docker run --rm -e KRAKEN_API_KEY -e KRAKEN_API_SECRET -v cryptotrader_live_data:/data \
  "$IMAGE" verify --config config/crypto/live.kraken.crypto.global.yaml
exec docker run -d --name "$NAME" --restart unless-stopped \
  -e KRAKEN_API_KEY -e KRAKEN_API_SECRET \
  -v cryptotrader_live_data:/data \
  "$IMAGE" live --config config/crypto/live.kraken.crypto.global.yaml "$@"
