#!/usr/bin/env bash
# The browser tests drive Debian's Chromium; install it from Debian's packages when missing.
set -eu
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
echo "Installing Debian's chromium for the browser tests"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "ERROR: /usr/bin/chromium is still missing" >&2; exit 1; }
