#!/usr/bin/env bash
# Idempotent: install Debian's Chromium (and chromedriver) for the browser tests when it is missing.
# The browser tests drive /usr/bin/chromium with Playwright; Playwright cannot download its own browser here.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing: run 'apt-get install -y chromium chromium-driver' as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver
