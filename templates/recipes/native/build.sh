# native recipe, phase "build": make -j$SF_JOBS, then this build's ccache
# statistics (from its own stats log, so concurrent builds do not mix in).
# shellcheck disable=SC1091
source "$SF_WORK/sf-env.sh"
cd "$SF_SRC"
echo "build: make -j$SF_JOBS"
make -j"$SF_JOBS" V=0
if [[ -n "$CCACHE_DIR" ]]; then
  echo "build: ccache statistics of this build:"
  ccache --show-log-stats || true
  # one machine-readable line for the build log / manifest
  if [[ -f "$CCACHE_STATSLOG" ]]; then
    ccache --show-log-stats -v 2>/dev/null | awk '
      /Hits:/ && !h { h = $2 } /Misses:/ && !m { m = $2 }
      END { if (h + m > 0) printf "build: ccache hits %d misses %d hit-rate %.1f%%\n", h, m, 100 * h / (h + m) }' || true
  fi
  echo "build: shared ccache after this build:"
  ccache -s || true
fi
echo "build: done"
