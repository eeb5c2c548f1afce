#!/usr/bin/env bash
# The generated man pages render with man(1) and groff without warnings,
# name every command, daemon flag and config key the binaries' own --help
# and --show-config know, and `cmake --install` puts them in man1, man5, man8.
source "$(dirname "$0")/lib.sh"
: "${SFACTORY_BINARY_DIR:?set by ctest}"
MAN_DIR="$SFACTORY_BINARY_DIR/client/man"
command -v man > /dev/null || skip "no man (apt-get install man-db; scripts/install-test-tools.sh)"
command -v groff > /dev/null || skip "no groff (apt-get install groff-base)"

for page in sfactory.1 sfactoryd.8 sfactoryd.yaml.5; do
  [ -s "$MAN_DIR/$page" ] || fail "$MAN_DIR/$page was not generated (ninja man_pages)"
  warnings=$(groff -ww -z -man "$MAN_DIR/$page" 2>&1)
  [ -z "$warnings" ] || fail "groff warns about $page: $warnings"
  MANWIDTH=80 man -l "$MAN_DIR/$page" > "$TEST_TMP/$page.txt" 2> "$TEST_TMP/$page.err" \
    || fail "man -l $page failed: $(cat "$TEST_TMP/$page.err")"
  [ ! -s "$TEST_TMP/$page.err" ] || fail "man -l $page complained: $(cat "$TEST_TMP/$page.err")"
done

# in_page PAGE TEXT WHAT
in_page() { grep -qF -- "$2" "$TEST_TMP/$1.txt" || fail "$1 lacks $3 \"$2\""; }

# Every command `sfactory --help` lists, with its flags from `--help` of the command.
commands=$(sf --help | sed -n '/^commands:/,/^$/p' | sed -n 's/^  \([a-z][a-z]*\( [a-z][a-z]*\)\?\)\( <.*\)\?  .*/\1/p' \
  | sed 's/ *$//')
[ "$(wc -l <<< "$commands")" -ge 15 ] || fail "could not read the commands from sfactory --help: $commands"
while read -r c; do
  in_page sfactory.1 "$c" "the command"
  # shellcheck disable=SC2086  # two-word commands are two words
  for f in $(sf $c --help | sed -n '/^flags:/,/^$/p' | grep -o -- '--[a-z-]*'); do
    in_page sfactory.1 "$f" "$c's flag"
  done
done <<< "$commands"
for f in $(sf --help | sed -n '/^flags every command takes:/,/^$/p' | grep -o -- '--[a-z-]*'); do
  in_page sfactory.1 "$f" "the common flag"
done
for code in 0 1 2 3 4 5 6 7 8 70 130; do
  grep -qE "^ +$code +[A-Za-z]" "$TEST_TMP/sfactory.1.txt" || fail "sfactory.1 lacks exit code $code"
done
for v in SFACTORY_ADDRESS SFACTORY_TOKEN_FILE SFACTORY_CLIENT_CONFIG; do
  in_page sfactory.1 "$v" "the environment variable"
done
for s in ENVIRONMENT FILES "EXIT STATUS"; do in_page sfactory.1 "$s" "the section"; done

# Every daemon flag sfactoryd --help shows.
dflags=$("$SFACTORYD" --help | grep -oE '^  --[a-z-]+')
[ -n "$dflags" ] || fail "could not read sfactoryd's flags from --help"
for f in $dflags; do in_page sfactoryd.8 "$f" "the daemon flag"; done
in_page sfactoryd.8 "EXIT STATUS" "the section"

# Every config key --show-config prints.
keys=$("$SFACTORYD" --show-config | sed -n 's/^\([a-z_]*\):.*/\1/p')
[ "$(wc -l <<< "$keys")" -ge 20 ] || fail "could not read the config keys from --show-config: $keys"
for k in $keys; do in_page sfactoryd.yaml.5 "$k" "the config key"; done

# Installed where man looks.
cmake --install "$SFACTORY_BINARY_DIR" --prefix "$TEST_TMP/prefix" > "$TEST_TMP/install.log" 2>&1 \
  || fail "cmake --install failed: $(tail -n 5 "$TEST_TMP/install.log")"
for p in man1/sfactory.1 man5/sfactoryd.yaml.5 man8/sfactoryd.8; do
  [ -f "$TEST_TMP/prefix/share/man/$p" ] || fail "cmake --install did not install share/man/$p"
done
MANPATH="$TEST_TMP/prefix/share/man" MANWIDTH=80 man sfactoryd.yaml 2> /dev/null | grep -q max_parallel_builds \
  || fail "man sfactoryd.yaml does not find the installed page"
log "ok"
