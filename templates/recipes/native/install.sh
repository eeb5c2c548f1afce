# native recipe, phase "install": make install into a DESTDIR, then lay the
# tree out as $SF_WORK/tree/software (= contents of DESTDIR$SF_PREFIX).
# shellcheck disable=SC1091
source "$SF_WORK/sf-env.sh"
cd "$SF_SRC"
dest="$SF_WORK/destdir"
tree="$SF_WORK/tree"
rm -rf "$dest" "$tree"
echo "install: make install DESTDIR=$dest"
make -j"$SF_JOBS" V=0 install DESTDIR="$dest" >"$SF_WORK/install.out" 2>&1 || {
  tail -n 60 "$SF_WORK/install.out"; echo "install: make install failed" >&2; exit 1; }

[[ -d "$dest$SF_PREFIX" ]] || { echo "install: nothing was installed under $dest$SF_PREFIX" >&2; exit 1; }
# Anything installed outside the prefix would be lost: say so.
# shellcheck disable=SC2015  # empty when cd fails or grep finds nothing outside
outside="$(cd "$dest" && find . -mindepth 1 \( -type f -o -type l \) | grep -v "^\.$SF_PREFIX/" || true)"
if [[ -n "$outside" ]]; then
  echo "install: warning: files installed outside $SF_PREFIX are not packaged:"
  # shellcheck disable=SC2001  # indents every line of the list
  echo "$outside" | sed 's/^/  /'
fi
mkdir -p "$tree"
mv "$dest$SF_PREFIX" "$tree/software"
rm -rf "$dest"
sw="$tree/software"
mkdir -p "$sw/bin" "$sw/sbin" "$sw/lib/slurm" "$sw/include" "$sw/share"

# Example configuration files (not installed by make install).
ex="$sw/share/doc/slurm-$SF_VERSION/examples"
mkdir -p "$ex"
for f in etc/*.example; do
  [[ -f "$f" ]] && install -m 0644 "$f" "$ex/"
done
# Build facts for people and for the verify stage.
mkdir -p "$sw/share/sfactory"
{
  printf 'version\t%s\n' "$SF_VERSION"
  printf 'series\t%s\n' "$SF_SERIES"
  printf 'recipe\tnative\n'
  printf 'variants\t%s\n' "${SF_VARIANTS:-}"
  printf 'prefix\t%s\n' "$SF_PREFIX"
  printf 'compiler\t%s\n' "$(gcc --version | head -n1)"
  printf 'configure\t%s\n' "$(sed -n 's/^  \$ \.\/configure //p' config.log | head -n1)"
} >"$sw/share/sfactory/build-info.tsv"

echo "install: $(find "$sw" -type f | wc -l) files, $(du -sh "$sw" | cut -f1) in $sw"
echo "install: done"
