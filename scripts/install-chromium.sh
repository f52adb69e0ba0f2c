#!/usr/bin/env bash
# Install Debian's chromium for the browser tests, unless it is already there.
# (Playwright's own browser download is not used: we drive /usr/bin/chromium.)
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-chromium: need root or sudo to apt-get install chromium" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3 4 5 6; do
  # A concurrent apt/dpkg run holds the lock: wait and retry rather than fail.
  if $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null; then
    exit 0
  fi
  echo "install-chromium: apt-get failed (attempt $attempt), retrying in 10 s" >&2
  sleep 10
done
exit 1
