#!/bin/sh
# size.sh DIR — the size rule of core/: no C file over 1,000 lines and no
# function over 80 (from the "{" that opens its body to the "}" that closes it,
# both alone at column 0, as every function of core/ is written). Generated
# tables live in the build folder, not in DIR. Prints each offender and exits 1
# when there is one.
dir=${1:?usage: size.sh DIR}
status=0
for f in "$dir"/*.c; do
    n=$(wc -l < "$f")
    if [ "$n" -gt 1000 ]; then
        echo "$f: $n lines (the limit is 1,000: split it along a seam)"
        status=1
    fi
done
awk -v max=80 '
    FNR == 1 { infn = 0; sig = "" }
    /^\{/ && !infn { infn = 1; start = FNR; name = sig; next }
    /^\}/ && infn {
        infn = 0
        len = FNR - start + 1
        if (len > max) {
            sub(/\(.*/, "", name); n = split(name, w, /[ *]+/)
            printf "%s:%d: %s is %d lines (the limit is %d)\n", FILENAME, start, w[n], len, max
            bad = 1
        }
        next
    }
    !infn && /^[A-Za-z_]/ { sig = $0 }
    END { exit bad }
' "$dir"/*.c || status=1
exit $status
