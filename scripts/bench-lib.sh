# Shared by the browser benches (sourced): Chromium and its driver from
# Debian, and `livecard up` (the release build) started in the background
# with the links it prints read back.

# Installs chromium and chromium-driver when missing.
need_chromium() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]} (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_livecard DATA_DIR LOG [flags of `up`...]: starts it (its pid in
# lc_pid) and waits until it printed its links.
start_livecard() {
  local data=$1 log=$2
  shift 2
  LIVECARD_LOG=warn ./target/release/livecard --data-dir "$data" up "$@" > "$log" 2>&1 &
  lc_pid=$!
  for _ in $(seq 1 200); do grep -q "/signin/" "$log" 2>/dev/null && break; sleep 0.1; done
}

# links_of LOG NAME: sets card, signin (NAME's links) and turn (the media
# node's TURN address) from what `livecard up` printed.
links_of() {
  local log=$1 name=$2
  card=$(awk -v n="$name" '/^card links/{c=1; next} /^advisor sign-in links/{c=0} c && index($0, n) {print $NF}' "$log")
  signin=$(awk -v n="$name" '/^advisor sign-in links/{s=1; next} s && index($0, n) {print $NF}' "$log")
  turn=$(awk '/^media node [^ ]+ \(TURN\) on/ {print $6}' "$log")
  [ -n "$card" ] && [ -n "$signin" ] || { echo "no links from livecard up" >&2; cat "$log" >&2; exit 1; }
}
