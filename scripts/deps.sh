#!/bin/sh
# Installs the Debian 12 packages devpi-like needs to build, run and test
# (and any given as arguments), skipping those already installed.  Needs
# root (or sudo) only when something is missing.
set -eu
PKGS="build-essential pkg-config libevent-dev libcurl4-openssl-dev liblmdb-dev libssl-dev
libarchive-dev libcjson-dev libargon2-dev libinih-dev libcmocka-dev zlib1g-dev
python3 python3-venv python3-pip python3-pytest python3-requests python3-lmdb twine nginx
$*"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
