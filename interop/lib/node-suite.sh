# Shared by the Node-run suites (interop/node, interop/console); sourced by their run.sh, which
# call it from their own folder:
#   demo_json_arg "$@"   checks the one argument, a readable demo.json; sets DEMO_JSON (absolute)
#   require_node 20      exits 2 unless node and npm of at least that major version are here
#   npm_ci_when_changed LABEL FILE...
#                        npm ci, only when node_modules is missing or was installed from other
#                        contents of FILE... or by another Node

demo_json_arg() {
  if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 DEMO_JSON" >&2
    exit 2
  fi
  if [[ ! -r "$1" ]]; then
    echo "error: cannot read $1 (the demo.json of a running \`tokenbridge demo\`)" >&2
    exit 2
  fi
  DEMO_JSON="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}

require_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "error: node and npm are needed (Node $1 or later)" >&2
    exit 2
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if ((major < $1)); then
    echo "error: Node $(node --version) is too old: the suite needs Node $1 or later" >&2
    exit 2
  fi
}

npm_ci_when_changed() {
  local label="$1" stamp="node_modules/.tokenbridge-install.sha256" want
  shift
  want="$({ cat "$@"; node --version; } | sha256sum | cut -d' ' -f1)"
  if [[ ! -d node_modules || "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
    echo "$label: npm ci (package-lock.json)"
    rm -f "$stamp"
    npm ci --no-audit --no-fund </dev/null
    echo "$want" >"$stamp"
  fi
}
