#!/usr/bin/env bash
# Installs everything satgeo's tests need on a fresh Debian machine: system packages
# (QGIS Python bindings, Chromium) and the Python package with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  python3-qgis qgis-providers qgis python3-pytest chromium chromium-driver >/dev/null
python3 -m pip install -q -c constraints.txt -e ".[dev,ray,train]"
