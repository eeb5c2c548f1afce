# native recipe, phase "bundle": copy the runtime libraries that the Slurm
# ELF files need from the build environment into software/lib, list them in
# software/share/sfactory/bundled-libs.tsv, and leave $SF_OUT/tree.tar.
#
# Rules (docs/NATIVE_RECIPE.md):
#  - every DT_NEEDED of every ELF in the tree, transitively, until nothing
#    new turns up, is either inside the tree already or copied into it;
#  - never glibc and its companions (libc, libm, libpthread, libdl, librt,
#    libresolv, libutil, ld-linux, the vdso, ...) nor libgcc_s / libstdc++:
#    those are the system baseline every target host has;
#  - a library is copied with symlinks dereferenced, under its real file
#    name, plus a symlink from its soname;
#  - RUNPATHs are not touched here: the daemon's packaging sets
#    $ORIGIN-relative ones on every ELF, bundled libraries included.
# shellcheck disable=SC1091
source "$SF_WORK/sf-env.sh"
sw="$SF_WORK/tree/software"
lib="$sw/lib"
export PATH="$PATH:/usr/sbin:/sbin"   # ldconfig
[[ -d "$sw" ]] || { echo "bundle: $sw is missing (install phase not run?)" >&2; exit 1; }
mkdir -p "$lib" "$sw/share/sfactory"
# Run again on the same tree (a retried phase): take out what an earlier run
# bundled, so that the list below is complete again.
if [[ -f "$sw/share/sfactory/bundled-libs.tsv" ]]; then
  while IFS=$'\t' read -r name _; do
    [[ -n "$name" && "$name" != */* ]] || continue
    if [[ -L "$lib/$name" ]]; then rm -f "$lib/$(readlink "$lib/$name")"; fi
    rm -f "$lib/$name"
  done <"$sw/share/sfactory/bundled-libs.tsv"
fi

is_elf() {
  [[ -f "$1" && ! -L "$1" ]] || return 1
  [[ "$(od -An -tx1 -N4 "$1" 2>/dev/null | tr -d ' \n')" == 7f454c46 ]]
}
# The system baseline, by soname and by owning Debian package.
is_baseline_name() {
  [[ "$1" =~ ^(libc|libm|libmvec|libpthread|libdl|librt|libresolv|libutil|libanl|libnsl|libBrokenLocale|libthread_db|libc_malloc_debug|libnss_[a-z0-9_]+|libgcc_s|libstdc\+\+)\.so(\.|$) ]] ||
    [[ "$1" =~ ^(ld-linux.*|ld64\.so.*|linux-vdso\.so.*|linux-gate\.so.*)$ ]]
}
is_baseline_pkg() {
  case "$1" in libc6|libc6-*|libgcc-s1|libstdc++6) return 0 ;; esac
  return 1
}
# Libraries Slurm dlopen()s by soname rather than linking them, when the
# plugin that does so was built: "plugin-glob soname".
dlopened=(
  "mpi_pmix*.so libpmix.so.2"
)
# Resolve a soname the way the dynamic linker would for a program without
# RUNPATH: ldconfig's cache.
resolve_soname() {
  # (awk reads all of its input: an early exit would SIGPIPE ldconfig,
  # which pipefail turns into a failure)
  ldconfig -p | awk -v n="$1" '
    $1 == n && pref == "" && /x86-64|AArch64|64bit/ { pref = $NF }
    $1 == n && any == "" { any = $NF }
    END { if (pref != "") print pref; else if (any != "") print any }' || true
}

declare -A bundled=()    # soname -> path it was copied from
declare -A pkg=()        # soname -> owning package (arch qualified)
declare -A skipped=()    # baseline soname -> path
declare -A scanned=()    # ELF files already looked at
copy_lib() {   # soname path
  local name="$1" path="$2" real base
  if is_baseline_name "$name"; then
    skipped["$name"]="$path"; return 0
  fi
  real="$(readlink -f "$path")"
  base="$(basename "$real")"
  install -m 0644 "$real" "$lib/$base"
  [[ "$base" == "$name" ]] || ln -sfn "$base" "$lib/$name"
  bundled["$name"]="$path"
  new=$((new + 1))
}

new=0
for entry in "${dlopened[@]}"; do
  read -r glob name <<<"$entry"
  # shellcheck disable=SC2086
  if compgen -G "$sw/lib/slurm/$glob" >/dev/null; then
    path="$(resolve_soname "$name")"
    [[ -n "$path" ]] || { echo "bundle: $name (dlopen()ed by $glob) is not installed" >&2; exit 1; }
    echo "bundle: $name is dlopen()ed by $glob: $path"
    copy_lib "$name" "$path"
  fi
done

pass=0
while :; do
  pass=$((pass + 1))
  # names the tree provides (files and symlinks)
  declare -A have=()
  while read -r n; do have["$n"]=1; done < <(find "$sw" \( -type f -o -type l \) -printf '%f\n')
  # ELF files not looked at yet: all of them in the first pass, then the
  # libraries the previous pass copied (ldd already lists transitive
  # dependencies, so this only confirms the fixed point).
  elfs=()
  while read -r f; do
    [[ -n "${scanned[$f]:-}" ]] && continue
    scanned["$f"]=1
    is_elf "$f" && elfs+=("$f")
  done < <(find "$sw" -type f | sort)
  new=0
  unresolved=()
  for e in "${elfs[@]}"; do
    # ldd resolves transitively; the tree's own libraries come first.
    out="$(LD_LIBRARY_PATH="$lib:$lib/slurm" ldd "$e" 2>/dev/null || true)"
    while read -r name arrow path _; do
      [[ "$arrow" == "=>" ]] || continue
      [[ -n "${have[$name]:-}" || -n "${bundled[$name]:-}" || -n "${skipped[$name]:-}" ]] && continue
      if [[ "$path" == "not" ]]; then
        unresolved+=("$name (needed by ${e#"$sw"/})"); continue
      fi
      [[ "$path" == "$sw"/* ]] && continue
      if [[ "$path" == "$SF_PREFIX"/* ]]; then
        echo "bundle: $name resolves to $path, inside the install prefix on the build host; refusing" >&2
        exit 1
      fi
      copy_lib "$name" "$path"
    done <<<"$out"
  done
  if [[ ${#unresolved[@]} -gt 0 ]]; then
    echo "bundle: libraries not found in the build environment:" >&2
    printf '  %s\n' "${unresolved[@]}" | sort -u >&2
    exit 1
  fi
  echo "bundle: pass $pass: ${#elfs[@]} ELF files scanned, $new libraries copied"
  unset have
  [[ $new -eq 0 ]] && break
  [[ $pass -lt 10 ]] || { echo "bundle: no fixed point after $pass passes" >&2; exit 1; }
done

# Owning packages, with one dpkg -S call for all (it reads its whole
# database each time). A library that turns out to belong to glibc or the
# GCC runtime under a name the pattern above missed is taken out again.
declare -A owner=()
if [[ ${#bundled[@]} -gt 0 ]]; then
  paths=()
  for name in "${!bundled[@]}"; do
    p="${bundled[$name]}"
    paths+=("$p" "$(readlink -f "$p")")
    case "$p" in /usr/*) paths+=("${p#/usr}") ;; *) paths+=("/usr$p") ;; esac
  done
  while IFS= read -r line; do
    [[ "$line" == *": /"* ]] || continue
    owner["${line#*: }"]="${line%%: *}"
  done < <(dpkg -S "${paths[@]}" 2>/dev/null || true)
fi
for name in "${!bundled[@]}"; do
  p="${bundled[$name]}"
  r="$(readlink -f "$p")"
  o="${owner[$p]:-${owner[$r]:-${owner[${p#/usr}]:-${owner[/usr$p]:-unknown}}}}"
  pkg["$name"]="$o"
  if is_baseline_pkg "${o%%:*}"; then
    echo "bundle: $name belongs to ${o%%:*} (system baseline): not bundled"
    rm -f "$lib/$name" "$lib/$(basename "$r")"
    unset "bundled[$name]"
    skipped["$name"]="$p"
  fi
done

declare -A version=()
mapfile -t owners < <(printf '%s\n' "${pkg[@]}" | grep -vx unknown | sort -u)
if [[ ${#owners[@]} -gt 0 ]]; then
  while IFS=$'\t' read -r p v; do
    version["$p"]="$v"; version["${p%%:*}"]="$v"
  done < <(dpkg-query -W -f='${binary:Package}\t${Version}\n' "${owners[@]}" 2>/dev/null || true)
fi
tsv="$sw/share/sfactory/bundled-libs.tsv"
: >"$tsv"
for name in $(printf '%s\n' "${!bundled[@]}" | sort); do
  p="${pkg[$name]}"
  printf '%s\t%s\t%s\n' "$name" "${p%%:*}" "${version[$p]:-${version[${p%%:*}]:-unknown}}" >>"$tsv"
done
echo "bundle: ${#bundled[@]} libraries bundled (soname, package, version):"
sed 's/^/  /' "$tsv"
echo "bundle: left to the target system: $(printf '%s\n' "${!skipped[@]}" | sort | tr '\n' ' ')"
files=()
for name in "${!bundled[@]}"; do files+=("$lib/$name"); done
[[ ${#files[@]} -eq 0 ]] || echo "bundle: bundled size $(du -chL "${files[@]}" | tail -n1 | cut -f1)"

# tree.tar: plain tar, every entry under software/, in a stable order.
rm -f "$SF_OUT/tree.tar"
tar -C "$SF_WORK/tree" --sort=name --owner=0 --group=0 --numeric-owner \
  --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime -cf "$SF_OUT/tree.tar" software
echo "bundle: $SF_OUT/tree.tar: $(du -h "$SF_OUT/tree.tar" | cut -f1), $(tar -tf "$SF_OUT/tree.tar" | wc -l) entries, tree $(du -sh "$sw" | cut -f1)"
echo "bundle: done"
