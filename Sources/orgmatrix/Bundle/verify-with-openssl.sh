#!/usr/bin/env bash
# Verify an OrgMatrix ledger bundle with bash, coreutils and the openssl command line only.
#
#   bash verify-with-openssl.sh [BUNDLE_DIR]     (default: the directory this script is in)
#
# Checks (docs/LEDGER.md, "The exported bundle"): manifest.sm3 (its last line is the SM3 of the
# lines before it; every listed file has the listed SM3; no file unlisted), that each tx.json
# hashes to its directory's name, that each hash a block lists is a transaction of the bundle,
# that each block's prev_hash is the SM3 of the previous header.json (or the anchor's), and every signature
# (endorsements, the orderer's, the checkpoints') with
#   openssl dgst -sm3 -verify keys/<owner>.v<k>.pem -sigopt distid:1234567812345678
# In a bundle exported --with-private (bundle.json's "with_private":true), each <field>.private
# (salt and value) must have the SM3 its tx.json states under private.<field> (the commitment),
# and none may be missing.
# It does not recompute Merkle roots (verify.py and `orgmatrix ledger verify-bundle` do).
# Prints `FAIL <file>: <reason>` per problem; exit 1 if there is any, 0 if none, 2 if unusable.
set -u
export LC_ALL=C

BUNDLE=${1:-$(dirname -- "${BASH_SOURCE[0]}")}
cd -- "$BUNDLE" 2>/dev/null || { echo "verify-with-openssl.sh: cannot enter $BUNDLE" >&2; exit 2; }
[[ -f manifest.sm3 ]] || { echo "verify-with-openssl.sh: $BUNDLE holds no manifest.sm3: not a bundle" >&2; exit 2; }
openssl version | grep -q '^OpenSSL 3' || { echo "verify-with-openssl.sh: needs OpenSSL 3 (SM2 with distid)" >&2; exit 2; }

FAILS=$(mktemp)
trap 'rm -f -- "$FAILS" "$FAILS".*' EXIT
fail() { printf 'FAIL %s: %s\n' "$1" "$2" >>"$FAILS"; }
# The SM3 of a file, as lower-case hex.
sm3() { openssl dgst -sm3 -r -- "$1" | cut -d' ' -f1; }

# 1. The manifest: its seal, then every listed file's SM3 (openssl hashes 500 files per call).
if [[ -n $(tail -c 1 manifest.sm3) ]]; then fail manifest.sm3 "the last line has no line break"; fi
seal=$(tail -n 1 manifest.sm3)
if [[ $seal != *"  manifest.sm3" ]]; then
  fail manifest.sm3 "its last line does not name manifest.sm3"
elif [[ ${seal%%  *} != $(head -n -1 manifest.sm3 | openssl dgst -sm3 -r | cut -d' ' -f1) ]]; then
  fail manifest.sm3 "its last line is not the SM3 of the lines before it"
fi
head -n -1 manifest.sm3 >"$FAILS.listed"
while IFS= read -r line; do
  if [[ ! $line =~ ^[0-9a-f]{64}\ \ [A-Za-z0-9._/-]+$ || $line == *"/../"* || $line == *"  ../"* ]]; then
    fail manifest.sm3 "a line is not <SM3 hex>  <path>: $line"
  fi
done <"$FAILS.listed"
cut -c 67- "$FAILS.listed" | sort | uniq -d | while IFS= read -r path; do fail manifest.sm3 "$path is listed twice"; done
: >"$FAILS.present"
cut -c 67- "$FAILS.listed" | while IFS= read -r path; do
  if [[ -f $path ]]; then
    printf '%s\n' "$path" >>"$FAILS.present"
    printf '%s\0' "$path"
  else
    fail "$path" "listed in manifest.sm3 but missing"
  fi
done | xargs -0 -r -n 500 openssl dgst -sm3 -r >"$FAILS.actual"   # one at a time: parallel writers would interleave lines
# openssl -r writes "<hex> *<path>"; the manifest "<hex>  <path>".
sed 's/ \*/  /' "$FAILS.actual" | sort -k2 >"$FAILS.actual.sorted"
sort -k2 "$FAILS.listed" | join -1 2 -2 2 -o '0,1.1,2.1' - "$FAILS.actual.sorted" >"$FAILS.joined"
compared=0
while read -r path listed actual; do
  compared=$((compared + 1))
  [[ $listed == "$actual" ]] || fail "$path" "SM3 $actual, manifest.sm3 lists $listed"
done <"$FAILS.joined"
# A step that failed (a changed script, a full disk) compares fewer files: that is no pass.
present=$(wc -l <"$FAILS.present")
if [[ $compared -ne $present ]]; then
  fail manifest.sm3 "only $compared of the $present files present were hashed and compared"
fi
cut -c 67- "$FAILS.listed" | sort >"$FAILS.paths"
find . -type f ! -path ./manifest.sm3 | sed 's#^\./##' | sort | comm -13 "$FAILS.paths" - | while IFS= read -r path; do
  fail "$path" "not listed in manifest.sm3"
done

# 2. Each tx.json hashes to its directory's name (from the SM3s just computed).
sed 's/ \*/  /' "$FAILS.actual" | grep '  transactions/../[0-9a-f]*/tx\.json$' | while read -r digest path; do
  directory=${path%/tx.json}
  [[ $digest == "${directory##*/}" && ${directory#transactions/} == "${digest:0:2}/$digest" ]] ||
    fail "$path" "SM3 $digest is not its directory's name"
done

# 2b. Each private value's SM3 is the commitment its transaction states (from the SM3s just computed).
sed 's/ \*/  /' "$FAILS.actual" | grep '  transactions/../[0-9a-f]*/[^/]*\.private$' | while read -r digest path; do
  name=${path##*/}
  name=${name%.private}
  case $name in
    carrier_name | carrier_contract_price_fen) ;;
    *) fail "$path" "$name is not a private field"; continue ;;
  esac
  # Canonical JSON escapes every quote inside a string, so `"private":{` is the member itself.
  committed=$(grep -o '"private":{[^}]*}' -- "${path%/*}/tx.json" 2>/dev/null | grep -o "\"$name\":\"[0-9a-f]*\"" | cut -d'"' -f4)
  if [[ -z $committed ]]; then
    fail "$path" "its transaction does not commit to $name"
  elif [[ $digest != "$committed" ]]; then
    fail "$path" "SM3 $digest is not the commitment private.$name, $committed"
  fi
done
if grep -q '"with_private":true' bundle.json 2>/dev/null; then
  # Every field a tx.json commits to has its file.
  grep -o '  transactions/../[0-9a-f]*/tx\.json$' "$FAILS.listed" | cut -c 3- | while IFS= read -r tx; do
    grep -o '"private":{[^}]*}' -- "$tx" 2>/dev/null | grep -o '"[a-z_]*":"' | cut -d'"' -f2 | while IFS= read -r name; do
      [[ -f ${tx%/tx.json}/$name.private ]] || fail "${tx%/tx.json}/$name.private" "missing: the bundle was exported with private values"
    done
  done
fi

# 3. Blocks in number order: every listed hash is held, and prev_hash links to the previous header
# (for a bundle from a later block on, the first links to the anchor, the block before it).
field() { grep -o "\"$1\":\"[0-9a-f]*\"" -- "$2" | head -n 1 | cut -d'"' -f4; }
number() { grep -o "\"$1\":[0-9]*" -- "$2" | head -n 1 | cut -d: -f2; }
previous=$(printf '0%.0s' {1..64})
from=$(number from_block bundle.json 2>/dev/null)
from=${from:-0}
anchored=$(find anchor -type f 2>/dev/null | wc -l)
if [[ $from -gt 0 ]]; then
  if [[ ! -f anchor/header.json ]]; then
    fail anchor/header.json "missing: a bundle from block $from carries block $((from - 1)) as its anchor"
  else
    [[ $(number number anchor/header.json) == "$((from - 1))" ]] || fail anchor/header.json "is not block $((from - 1))'s header"
    [[ $(find anchor -name 'orderer.v*.sig.der' | wc -l) -eq 1 ]] || fail anchor/header.json "has not one orderer signature beside it"
    previous=$(sm3 anchor/header.json)
  fi
elif [[ $anchored -gt 0 ]]; then
  fail anchor/header.json "a bundle from block 0 has no anchor"
fi
expected=$from
for directory in $(find blocks -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort); do
  header=$directory/header.json
  [[ -f $header ]] || { fail "$header" "missing"; continue; }
  [[ $(number number "$header") == "$expected" ]] || fail "$header" "is not block $expected's header"
  expected=$((expected + 1))
  [[ $(field prev_hash "$header") == "$previous" ]] || fail "$header" "prev_hash is not the SM3 of the previous header.json"
  previous=$(sm3 "$header")
  while IFS= read -r hash; do
    [[ -f transactions/${hash:0:2}/$hash/tx.json ]] || fail "$directory/transactions.txt" "lists $hash, which the bundle does not hold"
  done <"$directory/transactions.txt"
done

# 4. Every signature: endorsements over tx.json, the orderer's over header.json (the anchor's
# too), checkpoints' over checkpoint.json, each with the key its name states.
find transactions blocks checkpoints anchor -name '*.sig.der' 2>/dev/null | sort | while IFS= read -r signature; do
  name=${signature##*/}
  case $signature in
    transactions/*) signed=${signature%/*}/tx.json ;;
    blocks/* | anchor/*) signed=${signature%/*}/header.json ;;
    *) signed=${signature%/*}/checkpoint.json ;;
  esac
  printf '%s\0%s\0%s\0' "$signed" "$signature" "keys/${name%.sig.der}.pem"
done | xargs -0 -r -n 3 -P "$(nproc)" sh -c '
  if [ ! -f "$3" ]; then echo "FAIL $2: no key $3"
  elif ! openssl dgst -sm3 -verify "$3" -sigopt distid:1234567812345678 -signature "$2" "$1" >/dev/null 2>&1; then
    echo "FAIL $2: the signature does not verify over $1 with $3"
  fi' sh >>"$FAILS"

count=$(wc -l <"$FAILS")
if [[ $count -gt 0 ]]; then
  sort "$FAILS"
  echo "FAILED: $count problems"
  exit 1
fi
echo "OK: $(($(wc -l <"$FAILS.paths") + 1)) files listed and hashed, every signature verified"
