#!/bin/sh
# First run of the Docker stack: writes a random value to .env for every credential docker-compose.yml
# requires and .env does not set yet. Never changes a value already there; run it again at will.
# Needs only a POSIX shell (no Node): `./scripts/secrets.sh` (or `sh scripts/secrets.sh`) from the repository.
set -eu
cd "$(dirname "$0")/.."
env_file=.env

random() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# Set (to a non-empty value) in .env already?
has() { [ -f "$env_file" ] && grep -Eq "^[[:space:]]*(export[[:space:]]+)?$1=[^[:space:]#]" "$env_file"; }

written=""
add() {
  name=$1 value=$2
  if has "$name"; then return; fi
  [ -f "$env_file" ] || : > "$env_file"
  # Start on a new line when the file does not end with one.
  if [ -s "$env_file" ] && [ "$(tail -c 1 "$env_file" | od -An -c | tr -d ' ')" != '\n' ]; then echo >> "$env_file"; fi
  echo "$name=$value" >> "$env_file"
  written="$written $name"
}

umask 077
add NSPS_API_TOKENS "nsps-$(random)"
add ONCE_BASIC_AUTH_USERS "streamer:$(random)"
add SAP_JWT_HS256_SECRET "$(random)$(random)"
add INVENTORY_API_TOKENS "inventory-$(random)"
add TRAIL_API_TOKENS "trail-$(random)"
add POSTGRES_PASSWORD "$(random)"
add GRAFANA_ADMIN_PASSWORD "$(random)"

if [ -n "$written" ]; then
  echo "Wrote random values to $env_file for:$written"
  echo "Give each sender its credential from $env_file (docs/operations.md, Hardening); Grafana's user is admin."
else
  echo "$env_file already sets every credential docker-compose.yml needs; nothing changed."
fi
