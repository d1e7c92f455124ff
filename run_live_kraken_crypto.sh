#!/usr/bin/env bash
# Live trading on Kraken in a container (the seed's run_live_kraken_crypto.sh).
# Credentials: a key file (mode 0600, readable by the container's uid 10001) named by KRAKEN_API_KEY_FILE is
# mounted read-only at /run/secrets/kraken.key (preferred: nothing in the environment); or KRAKEN_API_KEY and
# KRAKEN_API_SECRET from this shell's environment (never written to disk or to the image).
# Alerts: CRYPTOTRADER_ALERT_URLS passes through when set. Logs: docker's json-file driver, rotated.
set -euo pipefail
IMAGE="${IMAGE:-cryptotrader:latest}"
NAME="${NAME:-trading_app_live_kraken_crypto}"
CONFIG=config/crypto/live.kraken.crypto.global.yaml
if [ -n "${KRAKEN_API_KEY_FILE:-}" ]; then
  [ "$(stat -c %a "$KRAKEN_API_KEY_FILE")" = 600 ] || { echo "error: $KRAKEN_API_KEY_FILE must be mode 0600 (chmod 600)" >&2; exit 2; }
  creds=(-v "$(realpath "$KRAKEN_API_KEY_FILE"):/run/secrets/kraken.key:ro" -e KRAKEN_API_KEY_FILE=/run/secrets/kraken.key)
else
  : "${KRAKEN_API_KEY:?set KRAKEN_API_KEY_FILE (a 0600 key file), or KRAKEN_API_KEY and KRAKEN_API_SECRET}"
  : "${KRAKEN_API_SECRET:?set KRAKEN_API_SECRET first}"
  creds=(-e KRAKEN_API_KEY -e KRAKEN_API_SECRET)
fi
alerts=(); [ -n "${CRYPTOTRADER_ALERT_URLS:-}" ] && alerts=(-e CRYPTOTRADER_ALERT_URLS)
# the pre-flight before real money: every check of `verify --live` must pass, or nothing starts
docker run --rm "${creds[@]}" -v cryptotrader_live_data:/data "$IMAGE" verify --live --config "$CONFIG"
exec docker run -d --name "$NAME" --restart unless-stopped --stop-timeout 120 \
  --health-cmd "cryptotrader health --config $CONFIG --max-age 2h" \
  --log-driver json-file --log-opt max-size=50m --log-opt max-file=5 \
  "${creds[@]}" "${alerts[@]}" -v cryptotrader_live_data:/data \
  "$IMAGE" live --config config/crypto/live.kraken.crypto.global.yaml "$@"
