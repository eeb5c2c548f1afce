# native recipe, phase "prepare": compiler cache, sources, build directory.
# Run by sfactoryd as `bash -eo pipefail prepare.sh` with the SF_* variables
# of docs/RECIPES.md. Writes $SF_WORK/sf-env.sh, which the later phases
# source (each phase is a separate bash process).
for v in SF_WORK SF_OUT SF_PREFIX SF_VERSION SF_SERIES SF_SOURCE_FILE SF_SOURCE_TOPDIR SF_JOBS; do
  if [[ -z "${!v}" ]]; then echo "prepare: $v is not set" >&2; exit 2; fi
done
# Variants this script knows; the daemon rejects others, this is a second guard.
for variant in $SF_VARIANTS; do
  case "$variant" in
    minimal) ;;
    *) echo "prepare: unknown variant '$variant' for the native recipe" >&2; exit 2 ;;
  esac
done

mkdir -p "$SF_WORK" "$SF_OUT"
src="$SF_WORK/src"

# --- environment shared by the later phases -------------------------------
{
  echo "# written by the native recipe's prepare phase"
  echo "export LC_ALL=C.UTF-8"
  echo "export SF_SRC='$src'"
  if [[ -n "$SF_CCACHE_DIR" ]] && command -v ccache >/dev/null; then
    # Paths under SF_WORK are rewritten to relative ones before hashing, and
    # the compiler's cwd is not hashed (debug info maps it with
    # -ffile-prefix-map in configure), so a cache filled by one build hits for
    # the next build of the same series even if its SF_WORK differs.
    echo "export CCACHE_DIR='$SF_CCACHE_DIR'"
    echo "export CCACHE_BASEDIR='$SF_WORK'"
    echo "export CCACHE_COMPILERCHECK=content"
    echo "export CCACHE_NOHASHDIR=1"
    echo "export CCACHE_STATSLOG='$SF_WORK/ccache-stats.log'"
    echo "export CC='ccache gcc'"
    echo "export CXX='ccache g++'"
  else
    echo "export CC=gcc"
    echo "export CXX=g++"
  fi
} >"$SF_WORK/sf-env.sh"
# shellcheck disable=SC1091
source "$SF_WORK/sf-env.sh"

echo "prepare: Slurm $SF_VERSION (series $SF_SERIES), variants: ${SF_VARIANTS:-none}, prefix $SF_PREFIX, jobs $SF_JOBS"
echo "prepare: compiler: $(gcc --version | head -n1)"
if [[ -n "$CCACHE_DIR" ]]; then
  mkdir -p "$CCACHE_DIR"
  rm -f "$CCACHE_STATSLOG"
  echo "prepare: ccache $(ccache --version | head -n1 | awk '{print $3}') in $CCACHE_DIR; statistics before this build:"
  ccache -s || true
else
  echo "prepare: ccache off (SF_CCACHE_DIR not set or ccache missing)"
fi

# --- sources ---------------------------------------------------------------
[[ -f "$SF_SOURCE_FILE" ]] || { echo "prepare: source tarball $SF_SOURCE_FILE is missing" >&2; exit 1; }
echo "prepare: unpacking $(basename "$SF_SOURCE_FILE") (top dir $SF_SOURCE_TOPDIR) into $src"
rm -rf "$src" "$SF_WORK/unpack"
mkdir -p "$SF_WORK/unpack"
tar -xf "$SF_SOURCE_FILE" -C "$SF_WORK/unpack" --no-same-owner
if [[ ! -d "$SF_WORK/unpack/$SF_SOURCE_TOPDIR" ]]; then
  # shellcheck disable=SC2012  # names for a message only
  echo "prepare: the tarball has no top directory '$SF_SOURCE_TOPDIR'; it has: $(ls "$SF_WORK/unpack" | tr '\n' ' ')" >&2
  exit 1
fi
mv "$SF_WORK/unpack/$SF_SOURCE_TOPDIR" "$src"
rm -rf "$SF_WORK/unpack"
if [[ ! -x "$src/configure" ]]; then
  # A source without a generated configure (a git checkout or an archive
  # made without it): generate it, as SchedMD's autogen.sh does.
  command -v autoreconf >/dev/null ||
    { echo "prepare: $src has no configure script and autoreconf is missing (install autoconf automake libtool)" >&2; exit 1; }
  echo "prepare: no configure in the source; running autoreconf -fi"
  (cd "$src" && autoreconf -fi) >"$SF_WORK/autoreconf.out" 2>&1 ||
    { tail -n 40 "$SF_WORK/autoreconf.out" >&2; echo "prepare: autoreconf -fi failed" >&2; exit 1; }
fi
# Timestamps in tree.tar: the daemon's SOURCE_DATE_EPOCH if it sets one,
# else the newest file of the source, so that they depend on the source only.
epoch="${SOURCE_DATE_EPOCH:-$(find "$src" -type f -printf '%T@\n' | sort -n | tail -n1 | cut -d. -f1)}"
echo "export SOURCE_DATE_EPOCH=$epoch" >>"$SF_WORK/sf-env.sh"

# --- patches ---------------------------------------------------------------
# Only the rendered scripts reach the build instance, not the recipe
# directory, so a patch the recipe needs is kept inline here, per series:
#   case "$SF_SERIES" in 23.02) patch -d "$src" -p1 <<'PATCH' ... PATCH ;; esac
# None of the supported series (23.02 to 26.05) needs one.
case "$SF_SERIES" in
  *) echo "prepare: no patches for series $SF_SERIES" ;;
esac
echo "prepare: done"
