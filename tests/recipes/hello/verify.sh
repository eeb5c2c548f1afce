# Runs the packaged program from a fresh random prefix, with no
# LD_LIBRARY_PATH: only $ORIGIN-relative RUNPATHs can make it work.
prefix=$(mktemp -d "$SF_WORK/prefix.XXXXXX")
tar -xf "$SF_SOFTWARE_TARBALL" -C "$prefix"
tar -xzf "$SF_MODULE_TARBALL" -C "$prefix"
out=$(env -u LD_LIBRARY_PATH "$prefix/software/bin/hello")
echo "CHECK run from $prefix: $out"
test "$out" = "hello from libhello"
if [ -r /usr/share/lmod/lmod/init/bash ]; then
  source /usr/share/lmod/lmod/init/bash
  export SLURM_INSTALL_PREFIX="$prefix/software"
  module use "$prefix/modules"
  module load "slurm/$SF_VERSION"
  test "$(command -v hello)" = "$prefix/software/bin/hello"
  echo "CHECK module slurm/$SF_VERSION puts $(command -v hello) on PATH: ok"
fi
