# shellcheck shell=bash
# ops/lib.sh — helpers shared by the ops/* scripts (source it; it sets no shell options).
# Provides: log, die, require_plain_path DIR, ensure_debian_packages PKG..., ensure_project_packages,
# ensure_python_cryptography, ensure_python_canonicaljson, ensure_swift, pg_bin_dir, ensure_master_key FILE.

# Progress and errors go to stderr so that stdout stays machine-readable.
log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The checkout's path ends up in PostgreSQL's options, pg.env and unix socket paths, unquoted:
# refuse a space or another shell-special character at once, before anything is built.
require_plain_path() {
  [[ $1 =~ ^/[A-Za-z0-9._/@+-]+$ ]] ||
    die "unsupported characters (a space?) in the checkout's path: $1; clone it somewhere without them"
}

# Install any of the given Debian packages that are missing (as root, or via passwordless sudo).
ensure_debian_packages() {
  local pkg missing=() sudo=()
  for pkg in "$@"; do
    # shellcheck disable=SC2016 # ${Status} is a dpkg-query field, not a shell expansion
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  if ((EUID != 0)); then
    if ! { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; then
      die "missing Debian packages: ${missing[*]} (as root: apt-get install ${missing[*]})"
    fi
    sudo=(sudo -n)
  fi
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get -q -o DPkg::Lock::Timeout=300 update >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -q -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" >&2
}

# Print the bin directory of the newest installed PostgreSQL server.
pg_bin_dir() {
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1) || true
  if [[ -z $dir ]] && command -v pg_config >/dev/null; then
    dir=$(pg_config --bindir)
  fi
  [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]] || die "no PostgreSQL server binaries found (install postgresql)"
  printf '%s\n' "$dir"
}

# Everything the project builds, tests and runs with, beyond the Swift toolchain.
PROJECT_PACKAGES=(postgresql libgcrypt20-dev libssl-dev libcurl4-openssl-dev openssl curl python3)
ensure_project_packages() { ensure_debian_packages "${PROJECT_PACKAGES[@]}"; }

# The SMCrypto tests cross-check SM4-GCM against Python's `cryptography` (OpenSSL 3.0's command
# line has no SM4-GCM): install it from PyPI when the python3 on PATH lacks it.
ensure_python_cryptography() {
  local probe='from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
Cipher(algorithms.SM4(bytes(16)), modes.GCM(bytes(12))).encryptor()'
  command -v python3 >/dev/null || ensure_debian_packages python3 python3-pip
  python3 -c "$probe" 2>/dev/null && return 0
  log "installing the Python cryptography package (SM4-GCM cross-check)"
  python3 -m pip --version >/dev/null 2>&1 || ensure_debian_packages python3-pip
  python3 -m pip install --quiet --break-system-packages cryptography >&2 2>/dev/null ||
    python3 -m pip install --quiet cryptography >&2
  python3 -c "$probe" || die "python3 cannot do SM4-GCM even after installing cryptography"
}

# The canonical JSON cross-check (IndependentJCSTests) runs ops/jcs.py, and takes PyPI's
# canonicaljson as a third opinion: install it (major version 2, whose key order the test knows)
# when the python3 on PATH lacks it.
ensure_python_canonicaljson() {
  local probe='import canonicaljson; assert canonicaljson.__version__.startswith("2.")'
  command -v python3 >/dev/null || ensure_debian_packages python3 python3-pip
  python3 -c "$probe" 2>/dev/null && return 0
  log "installing the Python canonicaljson package (canonical JSON cross-check)"
  python3 -m pip --version >/dev/null 2>&1 || ensure_debian_packages python3-pip
  python3 -m pip install --quiet --break-system-packages 'canonicaljson>=2,<3' >&2 2>/dev/null ||
    python3 -m pip install --quiet 'canonicaljson>=2,<3' >&2
  python3 -c "$probe" || die "python3 cannot import canonicaljson 2 even after installing it"
}

# Create the master key file FILE (a 128-bit SM4 key as 32 hex digits, mode 0600) unless it exists.
# It wraps every tenant's data key: losing it loses the custodial keys it wrapped.
ensure_master_key() {
  local file=$1
  [[ -s $file ]] && return 0
  (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$file.new" && mv -- "$file.new" "$file")
  log "created the master key file $file (mode 0600)"
}

# Put the Swift toolchain on PATH (it lives in /opt/swift on this kind of machine).
ensure_swift() {
  if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then
    PATH=/opt/swift/usr/bin:$PATH
    export PATH
  fi
  command -v swift >/dev/null || die "no Swift toolchain: install Swift 6 and put it on PATH"
}
