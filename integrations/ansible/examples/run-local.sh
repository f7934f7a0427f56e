#!/usr/bin/env bash
# One command for the example play against the three local "hosts" of inventory.local.ini:
# builds rex-runner (release), makes a venv with ansible-core under target/, runs site.yml.
# Results land in ${REX_DEMO_ROOT:-/tmp/rex-fleet-demo}/results/HOST.json; db1 fails by design.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="$repo/target/venv"
cargo build --release -q -p rex-runner --manifest-path "$repo/Cargo.toml"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
if [ ! -x "$venv/bin/ansible-playbook" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'ansible-core==2.19.14'
fi
cd "$here"
ANSIBLE_COLLECTIONS_PATH="$here/.." "$venv/bin/ansible-playbook" -i inventory.local.ini site.yml \
  -e "rex_runner_binary=$target_dir/release/rex-runner" \
  -e "rex_demo_root=${REX_DEMO_ROOT:-/tmp/rex-fleet-demo}" "$@"
