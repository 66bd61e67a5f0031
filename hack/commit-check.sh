#!/usr/bin/env bash
# commit-check.sh checks commit messages against the project's rule: a subject of at most 72
# characters in the form `area: imperative summary`, then a blank line before any body.
#
#   hack/commit-check.sh --file MSGFILE    one message (the commit-msg hook)
#   hack/commit-check.sh [BASE]            every commit in BASE..HEAD; BASE defaults to the
#                                          merge base with origin/main (or main), and to the
#                                          commits of this change only: rules older than it
#                                          do not apply to history.
set -euo pipefail

# Commits before this one were written before the rule was checked.
RULE_SINCE=73b5a8d

problems=0
check() { # check NAME MESSAGE
  local name=$1 msg=$2 subject second
  subject=$(printf '%s\n' "$msg" | sed -n 1p)
  second=$(printf '%s\n' "$msg" | sed -n 2p)
  case "$subject" in
    "Merge "*|"fixup! "*|"squash! "*|"Revert \""*) return 0 ;;
  esac
  if [ ${#subject} -gt 72 ]; then
    echo "$name: subject is ${#subject} characters (at most 72): $subject" >&2; problems=1
  fi
  if ! printf '%s' "$subject" | grep -qE '^[a-z0-9][a-zA-Z0-9_./, -]*: [^ ]'; then
    echo "$name: subject should read 'area: imperative summary': $subject" >&2; problems=1
  fi
  if [ -n "$second" ]; then
    echo "$name: leave a blank line between the subject and the body" >&2; problems=1
  fi
}

if [ "${1:-}" = "--file" ]; then
  msg=$(grep -v '^#' "$2")
  check "commit message" "$msg"
  exit $problems
fi

base=${1:-}
if [ -z "$base" ]; then
  for ref in origin/main main; do
    if git rev-parse -q --verify "$ref" >/dev/null; then base=$(git merge-base HEAD "$ref"); break; fi
  done
fi
# On main itself the merge base is HEAD; check what this change added since the rule began.
if [ -z "$base" ] || [ "$base" = "$(git rev-parse HEAD)" ]; then base=$RULE_SINCE; fi
if git merge-base --is-ancestor "$base" "$RULE_SINCE" 2>/dev/null; then base=$RULE_SINCE; fi
for c in $(git rev-list "$base..HEAD"); do
  check "commit $(git rev-parse --short "$c")" "$(git log -1 --format=%B "$c")"
done
exit $problems
