# native recipe, phase "configure": Slurm's ./configure against Debian's
# -dev libraries. See docs/NATIVE_RECIPE.md for what each option is for.
# shellcheck disable=SC1091
source "$SF_WORK/sf-env.sh"
cd "$SF_SRC"

minimal=no
for variant in $SF_VARIANTS; do [[ "$variant" == minimal ]] && minimal=yes; done
multiarch="$(gcc -print-multiarch)"

# -O2 -g: optimised, with ordinary debug info for usable core dumps (Slurm's
# own default, --enable-debug, is -ggdb3 -O1: twice the size, slower code).
# The build directory is mapped to a fixed name in debug info and __FILE__.
export CFLAGS="-O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2 -ffile-prefix-map=$SF_SRC=/usr/src/slurm-$SF_SERIES"
# No -z now: Slurm dlopen()s plugins lazily on purpose (plugins refer to
# symbols of the daemon that loads them).
export LDFLAGS="-Wl,-z,relro"

opts=(
  --prefix="$SF_PREFIX"
  --sysconfdir="$SF_PREFIX/etc"
  --with-systemdsystemunitdir="$SF_PREFIX/share/systemd/system"
  --disable-dependency-tracking
  --disable-static
  --disable-debug
  --enable-pkgconfig
  # Keep Slurm's default --with-rpath: the packaging replaces every RUNPATH
  # with an $ORIGIN-relative one anyway, and --without-rpath would make
  # mpi/pmix dlopen() libpmix by the build host's absolute path
  # (PMIXP_LIBPATH) instead of by soname through its RUNPATH, i.e. the
  # bundled copy.
  --disable-sview
  --disable-pam
  --with-munge
  # no package for these in Debian 12 main, or niche and heavy
  --without-nvml --without-rsmi --without-oneapi --without-ucx
  --without-s2n --without-hpe-slingshot --without-ofed
  --without-hdf5 --without-freeipmi --without-rdkafka
)
if [[ "$minimal" == yes ]]; then
  opts+=(
    --without-json --without-jwt --without-yaml --without-http-parser
    --disable-slurmrestd
    --without-hwloc --without-pmix --without-lz4 --without-readline
    --without-libcurl --without-lua --without-mysql_config
    --disable-cgroupv2 --disable-selinux
    ac_cv_lib_numa_numa_available=no
  )
else
  opts+=(
    --with-json --with-jwt --with-yaml --with-http-parser
    --enable-slurmrestd
    --with-hwloc --with-pmix="/usr/lib/$multiarch/pmix2"
    --with-lz4 --with-readline --with-libcurl --with-lua
    --with-mysql_config=/usr/bin
    --enable-cgroupv2
  )
fi

# Option names change between series (26.05 renamed --with-http-parser to
# --with-libhttp-parser; --with-lua, --enable-pkgconfig, --disable-sview,
# --with-s2n and --enable-cgroupv2 appeared in later series), and
# configure only warns about an option it does not know. So each option is
# checked against this series' own `configure --help`: renamed ones are
# translated, unknown ones are left out and said so in one line.
help_text="$(./configure --help)"
knows() {  # knows --with-foo=bar: whether configure lists --with(out)-foo / --enable|disable-foo
  local name="${1%%=*}"
  name="${name#--}"
  case "$name" in
    with-* | without-*) name="${name#without-}"; name="${name#with-}"
      grep -Eq -- "--with(out)?-${name}([^a-z0-9_-]|\$)" <<<"$help_text" ;;
    enable-* | disable-*) name="${name#enable-}"; name="${name#disable-}"
      grep -Eq -- "--(enable|disable)-${name}([^a-z0-9_-]|\$)" <<<"$help_text" ;;
    *) return 0 ;;  # --prefix and other standard options, and VAR=value
  esac
}
checked=() dropped=()
for o in "${opts[@]}"; do
  if ! knows "$o" && [[ "$o" == *http-parser* ]] && knows "${o/http-parser/libhttp-parser}"; then
    o="${o/http-parser/libhttp-parser}"
  fi
  if knows "$o"; then checked+=("$o"); else dropped+=("$o"); fi
done
opts=("${checked[@]}")
[[ ${#dropped[@]} -eq 0 ]] || echo "configure: Slurm $SF_SERIES's configure has no ${dropped[*]}; not passed"

echo "configure: CC=$CC"
echo "configure: CFLAGS=$CFLAGS"
echo "configure: ./configure ${opts[*]}"
if ! ./configure "${opts[@]}" >"$SF_WORK/configure.out" 2>&1; then
  tail -n 40 "$SF_WORK/configure.out"
  echo "configure: ./configure failed; the last lines of config.log:" >&2
  tail -n 60 config.log >&2 || true
  exit 1
fi
grep -E '^(configure: WARNING|checking (for|whether).*(json|jwt|yaml|http|hwloc|pmix|lz4|readline|curl|lua|mysql|munge|dbus|numa|cgroup))' \
  "$SF_WORK/configure.out" || true

# What configure found, by config.h define or automake conditional (the
# names differ a little between series; any of the alternatives counts).
declare -A features=(
  [munge]="WITH_MUNGE HAVE_MUNGE"
  [json]="HAVE_JSON WITH_JSON_PARSER"
  [jwt]="HAVE_JWT WITH_JWT"
  [yaml]="HAVE_YAML WITH_YAML"
  [http-parser]="HAVE_HTTP_PARSER WITH_HTTP_PARSER WITH_LIBHTTP_PARSER WITH_LLHTTP_PARSER"
  [slurmrestd]="WITH_SLURMRESTD"
  [hwloc]="HAVE_HWLOC"
  [pmix]="HAVE_PMIX"
  [lz4]="HAVE_LZ4"
  [readline]="HAVE_READLINE"
  [curl]="HAVE_LIBCURL WITH_CURL"
  [lua]="HAVE_LUA"
  [mysql]="HAVE_MYSQL WITH_MYSQL"
  [numa]="HAVE_NUMA"
  [dbus-cgroupv2]="WITH_DBUS"
)
has_feature() {
  local n
  for n in ${features[$1]}; do
    grep -Eq "^#define $n 1" config.h && return 0
    grep -Fq "S[\"${n}_TRUE\"]=\"\"" config.status && return 0
  done
  return 1
}
found=() missing=() unexpected=()
for f in $(printf '%s\n' "${!features[@]}" | sort); do
  if has_feature "$f"; then found+=("$f"); fi
  if [[ "$f" == munge || "$minimal" == no ]]; then
    has_feature "$f" || missing+=("$f")
  else
    ! has_feature "$f" || unexpected+=("$f")
  fi
done
echo "configure: features found: ${found[*]}"
# Fail when this variant's promise does not hold, rather than ship a build
# that quietly lacks (or, for minimal, quietly links) a library.
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "configure: required features not found: ${missing[*]} (is the -dev package installed?)" >&2
  exit 1
fi
if [[ ${#unexpected[@]} -gt 0 ]]; then
  echo "configure: the minimal variant must not use: ${unexpected[*]}" >&2
  exit 1
fi
echo "configure: done"
