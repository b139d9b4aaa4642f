#!/usr/bin/env bash
# Add ID-LoRA Studio to the desktop's application menu (per user). Run after installers/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps"
mkdir -p "$apps" "$icons"
cp idlora_studio/resources/idlora-studio.svg "$icons/idlora-studio.svg"
sed "s|^Exec=idlora-studio|Exec=$root/.venv/bin/idlora-studio|" \
  resources/linux/idlora-studio.desktop >"$apps/idlora-studio.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database "$apps" || true
echo "Installed $apps/idlora-studio.desktop"
