#!/usr/bin/env bash
# `sfactory completion bash` drives real bash completion: commands, two-word
# commands, flags, fixed flag values and build ids from a running daemon.
# The zsh and fish scripts must parse.
source "$(dirname "$0")/lib.sh"

BASH_COMPLETION=/usr/share/bash-completion/bash_completion
[ -f "$BASH_COMPLETION" ] || skip "no $BASH_COMPLETION (apt-get install bash-completion; scripts/install-test-tools.sh)"

start_daemon
seed_hello
b1=$(sf submit 24.11 --recipe hello --detach)
b2=$(sf submit 24.11.5 --recipe hello --detach)
wait_state "$b1" BUILD_STATE_SUCCEEDED
wait_state "$b2" BUILD_STATE_SUCCEEDED

sf completion bash > "$TEST_TMP/sfactory.bash"
# The completion calls `sfactory` by the name typed: put the binary under test first on PATH.
mkdir -p "$TEST_TMP/bin"
ln -s "$SFACTORY" "$TEST_TMP/bin/sfactory"

# complete WORD... : what TAB offers after these words (the last is the
# word being completed), one candidate a line, sorted.
complete_words() {
  PATH="$TEST_TMP/bin:$PATH" bash --norc --noprofile -c '
    source "$1"
    source "$2"
    shift 2
    COMP_WORDS=("$@")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _sfactory
    printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$BASH_COMPLETION" "$TEST_TMP/sfactory.bash" "$@"
}

# expect_completion "WANT (space-separated, sorted)" WORD...
expect_completion() {
  local want=$1 got
  shift
  got=$(complete_words "$@" | paste -sd' ')
  [ "$got" = "$want" ] || fail "sfactory ${*:2}<TAB> offered \"$got\", expected \"$want\""
}

expect_completion "submit" sfactory sub
expect_completion "add list" sfactory sources ""
expect_completion "prune" sfactory images pr
expect_completion "bash fish zsh" sfactory completion ""
expect_completion "cancelled failed queued running succeeded" sfactory list --state ""
expect_completion "rawjson" sfactory logs "$b1" --progress r

flags=$(complete_words sfactory submit --)
for f in --recipe --address --detach --progress --json; do
  grep -qx -- "$f" <<< "$flags" || fail "sfactory submit --<TAB> lacks $f: $flags"
done
if grep -qx -- --follow <<< "$flags"; then fail "sfactory submit --<TAB> offers logs' --follow"; fi

expected_ids=$(printf '%s\n' "$b1" "$b2" | sort | paste -sd' ')
expect_completion "$expected_ids" sfactory status ""
expect_completion "$b1" sfactory logs -f "$b1"
# A build id once: fetch takes one positional.
expect_completion "" sfactory fetch "$b1" ""
# The typed --address is passed on to the daemon query.
got=$(SFACTORY_ADDRESS=unix:/nonexistent complete_words sfactory --address "unix:$SOCK" cancel "" | paste -sd' ')
[ "$got" = "$expected_ids" ] || fail "cancel <TAB> with --address gave \"$got\""

# FILE and DIR values complete paths.
touch "$TEST_TMP/bin/some-file"
got=$(cd "$TEST_TMP/bin" && complete_words sfactory sources add some)
[ "$got" = some-file ] || fail "sources add <TAB> did not offer the file: \"$got\""
got=$(cd "$TEST_TMP" && complete_words sfactory fetch "$b1" -o bi)
[ "$got" = bin ] || fail "fetch -o <TAB> did not offer the directory: \"$got\""

# An unreachable daemon: nothing, quickly, no error on the terminal.
start=$(date +%s)
got=$(SFACTORY_ADDRESS=unix:$TEST_TMP/none.sock complete_words sfactory status "" 2>&1)
[ -z "$got" ] || fail "status <TAB> without a daemon printed \"$got\""
[ $(( $(date +%s) - start )) -le 4 ] || fail "status <TAB> without a daemon took over 4 s"

# The other shells' scripts parse.
if command -v zsh > /dev/null; then
  sf completion zsh > "$TEST_TMP/_sfactory"
  zsh -n "$TEST_TMP/_sfactory" || fail "the zsh script does not parse"
  # Its driver, with compadd standing in for zsh's completion system.
  # shellcheck disable=SC2016  # zsh expands these
  got=$(PATH="$TEST_TMP/bin:$PATH" zsh -f -c '
    source "$1"
    compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }
    words=(sfactory status ""); CURRENT=3; _sfactory' _ "$TEST_TMP/_sfactory" | sort | paste -sd' ')
  [ "$got" = "$expected_ids" ] || fail "zsh: sfactory status <TAB> offered \"$got\""
else
  log "zsh not installed: its script is not checked"
fi
if command -v fish > /dev/null; then
  sf completion fish > "$TEST_TMP/sfactory.fish"
  fish --no-execute "$TEST_TMP/sfactory.fish" || fail "the fish script does not parse"
  # fish runs it: the common flags and commands are offered.
  got=$(PATH="$TEST_TMP/bin:$PATH" fish --no-config -c "source $TEST_TMP/sfactory.fish; complete -C 'sfactory sour'")
  grep -q '^sources' <<< "$got" || fail "fish does not complete sources: $got"
  got=$(PATH="$TEST_TMP/bin:$PATH" fish --no-config -c "source $TEST_TMP/sfactory.fish; complete -C 'sfactory status '")
  grep -q "^$b1" <<< "$got" || fail "fish does not complete build ids: $got"
else
  log "fish not installed: its script is not checked"
fi
log "ok"
