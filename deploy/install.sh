#!/bin/sh
# Installs Straja as a systemd service on Debian, Ubuntu and Raspberry Pi OS.
#
#   sudo deploy/install.sh                      install, or upgrade in place (from this checkout)
#   sudo deploy/install.sh --wheel FILE.whl     install that wheel instead of building one
#   sudo deploy/install.sh --wheelhouse DIR     offline: every wheel from DIR, no package index
#   sudo deploy/install.sh --no-start           install, but leave the service stopped
#   sudo deploy/install.sh --system-site-packages  use the distribution's Python packages
#                                               where new enough (armv7: see docs/install.md)
#   sudo deploy/install.sh --uninstall          remove the program and units; keep config and state
#   sudo deploy/install.sh --uninstall --purge  also remove /etc/straja, /var/lib/straja, the user
#
# What it does, each step skipped when already done (so running it again is harmless):
#   a straja system user and group; a virtualenv in /opt/straja with the wheel installed;
#   /etc/straja/config.yaml from the example (demo list off, state_dir /var/lib/straja),
#   root:straja 0640, never overwritten; /var/lib/straja owned by straja; the systemd units;
#   `straja config check`; then (where systemd runs) enable and (re)start the service.
set -eu

PREFIX=/opt/straja
CONF_DIR=/etc/straja
STATE_DIR=/var/lib/straja
UNIT_DIR=/etc/systemd/system
SERVICE_USER=straja
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(dirname "$HERE")

action=install
purge=0
start=1
wheel=""
wheelhouse=""
site_packages=""

say() { printf 'straja-install: %s\n' "$*"; }
die() { printf 'straja-install: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --uninstall) action=uninstall ;;
    --purge) purge=1 ;;
    --no-start) start=0 ;;
    --system-site-packages) site_packages=--system-site-packages ;;
    --wheel) [ $# -ge 2 ] || die "--wheel needs a file"; wheel=$2; shift ;;
    --wheelhouse) [ $# -ge 2 ] || die "--wheelhouse needs a folder"; wheelhouse=$2; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

[ "$(id -u)" = 0 ] || die "run me as root (sudo $0)."

systemd_runs() { [ -d /run/systemd/system ]; }

uninstall() {
  if systemd_runs; then
    systemctl disable --now straja.socket straja.service >/dev/null 2>&1 || true
  fi
  rm -f "$UNIT_DIR/straja.service" "$UNIT_DIR/straja.socket"
  if systemd_runs; then systemctl daemon-reload; fi
  rm -rf "$PREFIX"
  say "removed $PREFIX and the units."
  if [ "$purge" = 1 ]; then
    rm -rf "$CONF_DIR" "$STATE_DIR"
    if getent passwd "$SERVICE_USER" >/dev/null; then userdel "$SERVICE_USER"; fi
    if getent group "$SERVICE_USER" >/dev/null; then groupdel "$SERVICE_USER"; fi
    say "removed $CONF_DIR, $STATE_DIR and the $SERVICE_USER user."
  else
    say "kept $CONF_DIR and $STATE_DIR (lists, keys, reports); --purge removes them."
  fi
}

check_python() {
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found: apt install python3 python3-venv"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "Straja needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1)."
  if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    command -v apt-get >/dev/null || die "$PYTHON has no venv module."
    say "installing python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
}

ensure_user() {
  if ! getent group "$SERVICE_USER" >/dev/null; then
    groupadd --system "$SERVICE_USER"
  fi
  if ! getent passwd "$SERVICE_USER" >/dev/null; then
    useradd --system --gid "$SERVICE_USER" --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin --comment "Straja DNS filter" "$SERVICE_USER"
    say "created the $SERVICE_USER system user."
  fi
}

# The wheel to install: the one given, or one built from this checkout.
build_wheel() {
  if [ -n "$wheel" ]; then
    [ -f "$wheel" ] || die "no wheel at $wheel"
    printf '%s\n' "$wheel"
    return
  fi
  [ -f "$SOURCE/pyproject.toml" ] ||
    die "$SOURCE is not a Straja checkout; pass --wheel FILE or --wheelhouse DIR."
  out=$(mktemp -d)
  "$PREFIX/bin/pip" wheel -q --no-deps ${wheelhouse:+--no-index --find-links "$wheelhouse"} \
    --wheel-dir "$out" "$SOURCE" >&2
  ls "$out"/straja-*.whl
}

install_venv() {
  if [ -x "$PREFIX/bin/python" ] && ! "$PREFIX/bin/python" -c 'import sys' 2>/dev/null; then
    say "the virtualenv in $PREFIX is broken (Python upgraded?); recreating it"
    rm -rf "$PREFIX"
  fi
  if [ ! -x "$PREFIX/bin/python" ]; then
    "$PYTHON" -m venv $site_packages "$PREFIX"
    say "created the virtualenv $PREFIX"
  fi
  if [ -n "$wheelhouse" ]; then
    set -- --no-index --find-links "$wheelhouse"
  else
    set --
    if [ -z "$site_packages" ]; then
      "$PREFIX/bin/pip" install -q --upgrade pip setuptools wheel
    fi
  fi
  # The wheel is built from the checkout, or given, or found in the wheelhouse.
  if [ -z "$wheel" ] && [ -n "$wheelhouse" ] && [ ! -f "$SOURCE/pyproject.toml" ]; then
    target=straja
  else
    target=$(build_wheel)
  fi
  "$PREFIX/bin/pip" install -q --upgrade "$@" "$target"
  install -d -m 0755 "$PREFIX/share/straja"
  if [ -f "$SOURCE/config.example.yaml" ]; then
    install -m 0644 "$SOURCE/config.example.yaml" "$PREFIX/share/straja/config.example.yaml"
  fi
  say "installed $("$PREFIX/bin/straja" --version)"
}

# /etc/straja/config.yaml from the example: the demo list (a throwaway key, demo/ paths)
# commented out and state_dir in /var/lib/straja. An existing config is never touched.
install_config() {
  install -d -o root -g "$SERVICE_USER" -m 0750 "$CONF_DIR"
  if [ -e "$CONF_DIR/config.yaml" ]; then
    say "kept the existing $CONF_DIR/config.yaml"
  else
    example="$PREFIX/share/straja/config.example.yaml"
    [ -f "$example" ] || die "no config.example.yaml to start $CONF_DIR/config.yaml from."
    tmp=$(mktemp "$CONF_DIR/.config.yaml.XXXXXX")
    "$PREFIX/bin/python" - "$example" "$STATE_DIR" >"$tmp" <<'EOF'
import sys

example, state_dir = sys.argv[1], sys.argv[2]
demo = ""  # "", "comments" above the demo entry, "entry" within it
for line in open(example, encoding="utf-8"):
    if line.startswith("  # DEMO ONLY"):
        demo = "comments"
    elif demo == "comments" and line.startswith("  - "):
        demo = "entry"
    elif demo == "entry" and not line.startswith("    "):
        demo = ""
    if demo == "entry":
        line = "  # " + line[2:]
    if line.startswith("lists:"):
        line = "lists: []  # the demo list is off: add your lists below (and drop the [])\n"
    if line.startswith("state_dir:"):
        line = f"state_dir: {state_dir}\n"
    sys.stdout.write(line)
EOF
    chown root:"$SERVICE_USER" "$tmp"
    chmod 0640 "$tmp"
    mv "$tmp" "$CONF_DIR/config.yaml"
    say "wrote $CONF_DIR/config.yaml (edit dns.listen, upstreams and lists, then reload)"
  fi
  chown root:"$SERVICE_USER" "$CONF_DIR/config.yaml"
  chmod 0640 "$CONF_DIR/config.yaml"
  install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0750 "$STATE_DIR"
}

install_units() {
  install -d -m 0755 "$UNIT_DIR"
  for unit in straja.service straja.socket; do
    install -m 0644 "$HERE/systemd/$unit" "$UNIT_DIR/$unit"
  done
}

check_config() {
  # Run as root, `straja config check` goes on as the owner of state_dir (straja), so
  # this also proves the service user can read the config.
  if ! "$PREFIX/bin/straja" config check --config "$CONF_DIR/config.yaml"; then
    die "$CONF_DIR/config.yaml has errors (above); fix them and run me again."
  fi
}

start_service() {
  if ! systemd_runs; then
    say "systemd is not running here; start it with: systemctl enable --now straja"
    return
  fi
  systemctl daemon-reload
  systemctl enable straja.service >/dev/null 2>&1
  if [ "$start" = 0 ]; then
    say "installed; start it with: systemctl start straja"
  elif systemctl is-active -q straja.service; then
    systemctl restart straja.service
    say "restarted straja.service on the new version"
  else
    systemctl start straja.service
    say "started straja.service"
  fi
}

if [ "$action" = uninstall ]; then
  uninstall
  exit 0
fi
check_python
ensure_user
install_venv
install_config
install_units
check_config
start_service
