#!/usr/bin/env bash
# Installs everything Chartvault needs on a Debian machine, as root:
#   scripts/setup.sh          the service (Tesseract, Poppler, fonts) and .venv
#   scripts/setup.sh --test   plus what the tests use (Chromium, Ceph RGW, test packages)
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
packages=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd poppler-utils fonts-dejavu-core
          python3-venv
          libtesseract-dev libleptonica-dev pkg-config g++)  # tesserocr built on Debian's Tesseract
extras=""
if [[ $mode == --test ]]; then
  # caddy: the TLS proxy of the production-topology test; docker-compose: checks the
  # compose file (`docker-compose config` needs no Docker engine)
  packages+=(chromium ceph-mon ceph-osd radosgw ceph-common caddy docker-compose)
  extras="[test]"
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check --no-binary tesserocr -e ".${extras}"
# The tesserocr engine must run the same Tesseract as the `tesseract` command (the same
# text): built from source against Debian's libtesseract, never PyPI's wheel, which bundles
# another Tesseract version. Rebuilt if an older setup installed the wheel.
tess_cli=$(tesseract --version 2>&1 | head -1)
tess_api=$(.venv/bin/python -c 'import tesserocr; print(tesserocr.tesseract_version().splitlines()[0])')
if [[ $tess_api != "$tess_cli" ]]; then
  echo "setup: rebuilding tesserocr against the system's Tesseract ($tess_api -> $tess_cli)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-binary tesserocr \
    --force-reinstall --no-deps "tesserocr>=2.13"
fi
# The checkout's own modules byte-compiled now (all of it but .venv, whose packages pip
# compiled), as pip does for what it installs: with PYTHONDONTWRITEBYTECODE set nothing
# writes them later, and every `chartvault` command and worker start compiled ~80
# modules again (0.82 -> 0.64 s to import intake).
.venv/bin/python -m compileall -q -x '/\.venv/' . >/dev/null
# The first admin of the web page: CHARTVAULT_ADMIN_PASSWORD (the operator's own), or a
# random one-time password printed once, which the first sign-in must replace.
if ! .venv/bin/chartvault users list 2>/dev/null | grep -q $'\tadmin\t'; then
  password=${CHARTVAULT_ADMIN_PASSWORD:-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')}
  permanent=${CHARTVAULT_ADMIN_PASSWORD:+--permanent}
  if printf '%s\n' "$password" | .venv/bin/chartvault users add admin --role admin --password-stdin $permanent >/dev/null; then
    [[ -n ${CHARTVAULT_ADMIN_PASSWORD:-} ]] || echo "setup: web admin 'admin', one-time password: $password"
  else
    echo "setup: could not create the first admin; later run: chartvault users add admin --role admin"
  fi
fi
echo "setup: ready (.venv/bin/chartvault)"
