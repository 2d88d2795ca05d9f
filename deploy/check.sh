#!/usr/bin/env bash
# Validate the compose files of deploy/ with `docker compose config -q` (CI calls this).
# Needs the docker CLI with its compose plugin (or a standalone docker-compose v2), not a running daemon.
# Without docker it prints "docker not found; skipped" and succeeds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
files=(docker-compose.yml docker-compose.embedded.yml)

if ! command -v docker >/dev/null 2>&1; then
    echo "docker not found; skipped"
    exit 0
fi
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1 && docker-compose version 2>/dev/null | grep -q 'v2\.'; then
    compose=(docker-compose)
else
    echo "docker compose (v2) not found; skipped"
    exit 0
fi

# deploy/.env holds a deployment's secrets and is not in git: validate against the example when it
# is missing (for `env_file:` through LIVEVAULT_ENV_FILE, for ${...} through --env-file).
env_args=()
if [[ ! -f "$here/.env" ]]; then
    export LIVEVAULT_ENV_FILE=.env.example
    env_args=(--env-file "$here/.env.example")
fi

for file in "${files[@]}"; do
    "${compose[@]}" ${env_args[@]+"${env_args[@]}"} -f "$here/$file" config -q
    echo "ok: deploy/$file"
done
