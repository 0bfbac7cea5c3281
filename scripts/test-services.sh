#!/usr/bin/env bash
# Start what the tests use: PostgreSQL (Debian's `postgresql`) with a test role and
# database, and Chromium for the web page test. Installs the package when it is missing and we are root (as on CI); anywhere it
# cannot run, it says so and the PostgreSQL tests skip with that message. Never fails `make`.
set -u
URL="postgresql://lmrec:lmrec@127.0.0.1:5432/lmrec_test"
say() { echo "test-services: $*"; }

postgres() {
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing postgresql (apt-get)…"
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
        >/tmp/lmrec-apt.log 2>&1; then
      say "postgresql could not be installed (see /tmp/lmrec-apt.log); PostgreSQL tests will skip"
      return 0
    fi
  else
    say "postgresql is not installed and we are not root; PostgreSQL tests will skip"
    return 0
  fi
fi

read -r version cluster _ < <(pg_lsclusters -h | head -n 1)
if [ -z "${version:-}" ]; then
  say "no PostgreSQL cluster found; PostgreSQL tests will skip"
  return 0
fi
if [ "$(id -u)" = 0 ]; then
  pg_ctlcluster "$version" "$cluster" start >/dev/null 2>&1 || true
  as_pg() { su postgres -c "$1"; }
else
  as_pg() { bash -c "$1"; }
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  say "PostgreSQL did not start; PostgreSQL tests will skip"
  return 0
fi
as_pg "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='lmrec'\"" | grep -q 1 ||
  as_pg "psql -qc \"CREATE ROLE lmrec LOGIN PASSWORD 'lmrec'\"" >/dev/null
as_pg "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='lmrec_test'\"" | grep -q 1 ||
  as_pg "createdb -O lmrec lmrec_test" >/dev/null
say "PostgreSQL ready at $URL"
}
postgres

# A headless browser for the web page test (Playwright drives Debian's Chromium; browser
# downloads from elsewhere are not possible here).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium (apt-get)…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
      >/tmp/lmrec-apt-chromium.log 2>&1 ||
      say "chromium could not be installed; the web page test will skip"
  else
    say "chromium is not installed; the web page test will skip"
  fi
fi
