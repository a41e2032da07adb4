#!/usr/bin/env bash
# PDF export needs xelatex and pandoc; the HTML book's browser test needs Chromium. Install them
# with apt when we are root on Debian/Ubuntu; otherwise say exactly what to install. Never
# fails: without them the report still writes the executed notebooks and HTML.
set -uo pipefail
missing=()
for tool in xelatex pandoc chromium; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[ ${#missing[@]} -eq 0 ] && exit 0

pkgs="texlive-xetex texlive-fonts-recommended texlive-plain-generic lmodern pandoc poppler-utils chromium"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing the PDF tool-chain (${missing[*]} missing): $pkgs"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs >/dev/null && exit 0
  echo "apt-get could not install the PDF tool-chain." >&2
fi
echo "PDF export unavailable: ${missing[*]} not found. Install them, e.g." >&2
echo "  sudo apt-get install -y --no-install-recommends $pkgs" >&2
echo "  (conda: conda install -c conda-forge pandoc texlive-core)" >&2
exit 0
