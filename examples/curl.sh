#!/usr/bin/env bash
# curl against scenariod: the Proxmox API as a shell script sees it, then the control API.
#
#   scenariod run scenarios/two-node.yaml &      # https://127.0.0.1:8006, CA in ~/.cache/scenariod
#   examples/curl.sh                             # or: URL=http://127.0.0.1:8006 examples/curl.sh (--http)
#
# Everything below runs in a session of its own (/_session/$SESSION/...), so the server's
# default state is left as it was; drop the prefix to work on the shared state.
# Needs curl and jq.
set -euo pipefail

URL=${URL:-https://127.0.0.1:8006}
CA=${SCENARIOD_CA:-${SCENARIOD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scenariod}/ca.pem}
SESSION=${SESSION:-curl-$$}
API="$URL/_session/$SESSION/api2/json"
TOKEN='root@pam!ci=5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10'   # from scenarios/two-node.yaml

CURL=(curl -sS --fail-with-body)
[[ $URL == https:* ]] && CURL+=(--cacert "$CA")

echo "== health"
"${CURL[@]}" "$URL/health"; echo

echo "== log in (ticket + CSRF token), as Proxmox clients do"
login=$("${CURL[@]}" "$API/access/ticket" --data-urlencode username=root@pam --data-urlencode password=secret)
TICKET=$(jq -r .data.ticket <<<"$login")
CSRF=$(jq -r .data.CSRFPreventionToken <<<"$login")
COOKIE="PVEAuthCookie=$TICKET"

echo "== nodes"
"${CURL[@]}" -b "$COOKIE" "$API/nodes" | jq -r '.data[] | "\(.node)\t\(.status)\t\(.maxcpu) CPUs"'

echo "== guests (with the API token instead of the ticket)"
"${CURL[@]}" -H "Authorization: PVEAPIToken=$TOKEN" "$API/cluster/resources?type=vm" \
  | jq -r '.data[] | "\(.vmid)\t\(.name)\t\(.status)\ton \(.node)"'

echo "== start VM 101 (a write needs the CSRF token) and follow its task"
UPID=$("${CURL[@]}" -b "$COOKIE" -H "CSRFPreventionToken: $CSRF" -X POST "$API/nodes/pve1/qemu/101/status/start" | jq -r .data)
echo "$UPID"
for _ in $(seq 1 50); do
  status=$("${CURL[@]}" -b "$COOKIE" "$API/nodes/pve1/tasks/$UPID/status" | jq -r .data.status)
  [[ $status == stopped ]] && break
  sleep 0.1
done
"${CURL[@]}" -b "$COOKIE" "$API/nodes/pve1/tasks/$UPID/status" | jq -c '.data | {status, exitstatus}'
"${CURL[@]}" -b "$COOKIE" "$API/nodes/pve1/qemu/101/status/current" | jq -r '"VM 101 is \(.data.status)"'

echo "== a Proxmox error, as Proxmox shapes it"
"${CURL[@]}" -o /dev/null -w '%{http_code}\n' -b "$COOKIE" "$API/nodes/pve1/qemu/999/config" 2>/dev/null || true
curl -sS ${CA:+--cacert "$CA"} -b "$COOKIE" "$API/nodes/pve1/qemu/999/config"; echo

# --- the control API (/_scenariod/, JSON; see docs/control-api.md) -----------------------------
CTL="$URL/_scenariod"
Q="session=$SESSION"

echo "== journal: this session's POSTs"
"${CURL[@]}" "$CTL/journal?$Q&method=POST" | jq -r '.entries[] | "#\(.id) \(.method) \(.path) -> \(.status)"'

echo "== journal: errors only"
"${CURL[@]}" "$CTL/journal?$Q&status=4xx,5xx" | jq -r '.entries[] | "#\(.id) \(.method) \(.path) -> \(.status)"'

echo "== verify: VM 101 was started exactly once"
"${CURL[@]}" -X POST "$CTL/verify?$Q" -H 'Content-Type: application/json' \
  -d '{"when": "POST /nodes/{node}/qemu/{vmid}/status/start", "count": 1}' | jq -c '{ok, wanted, got}'

echo "== verify a near miss: answers 409 with the closest requests and what differed"
curl -sS ${CA:+--cacert "$CA"} -X POST "$CTL/verify?$Q" -H 'Content-Type: application/json' \
  -d '{"when": {"method": "GET", "path": "/cluster/resources", "query": {"type": "storage"}}}' \
  | jq -c '{ok, got, closest: [.closest[] | {request: "\(.method) \(.path)", differences}]}'

echo "== state: read, then change what the API will answer"
"${CURL[@]}" "$CTL/state?$Q&path=/nodes/pve1/qemu/100/config" | jq -c '.value | {name, cores, memory}'
"${CURL[@]}" -X PATCH "$CTL/state?$Q&path=/nodes/pve1/qemu/100/config" \
  -H 'Content-Type: application/json' -d '{"cores": 8}' | jq -c '.value | {name, cores}'
"${CURL[@]}" -H "Authorization: PVEAPIToken=$TOKEN" "$API/nodes/pve1/qemu/100/config" | jq -r '"cores now \(.data.cores)"'

echo "== sessions, then discard ours"
"${CURL[@]}" "$CTL/sessions" | jq -r '.sessions[] | "\(.id): \(.requests) requests"'
"${CURL[@]}" -X DELETE "$CTL/sessions/$SESSION" | jq -c .
