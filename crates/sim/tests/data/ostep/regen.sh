#!/bin/sh
# Regenerates the expected outputs from OSTEP's malloc.py:
#   sh regen.sh /path/to/ostep-homework/vm-freespace/malloc.py
# For each line of cases.tsv (NAME, then malloc.py's arguments, tab-separated) it writes
# NAME.out (malloc.py's stdout) and, when malloc.py exits with an error, NAME.fails
# (the last line of its stderr: the exception or optparse's message).
set -eu
py=${1:?usage: sh regen.sh path/to/malloc.py}
cd "$(dirname "$0")"
rm -f -- *.out *.fails
tab=$(printf '\t')
grep -v '^#' cases.tsv | while IFS= read -r line; do
  name=${line%%"$tab"*}
  if [ "$name" = "$line" ]; then rest=""; else rest=${line#*"$tab"}; fi
  # Split the arguments at tabs only (they may contain spaces).
  old_ifs=$IFS; IFS=$tab; set -f
  # shellcheck disable=SC2086
  set -- $rest
  set +f; IFS=$old_ifs
  if python3 "$py" "$@" > "$name.out" 2> "$name.stderr"; then
    :
  else
    tail -n 1 "$name.stderr" > "$name.fails"
  fi
  rm -f "$name.stderr"
done
