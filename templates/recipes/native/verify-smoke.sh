# native recipe, verify phase "smoke": the packaged tarballs, extracted to a
# random prefix and loaded with the real Lmod, run. Prints one
# "CHECK <name>: ok|FAILED" line per check; exits non-zero when any failed.
# Environment (docs/RECIPES.md): SF_VERSION, SF_SERIES, SF_WORK,
# SF_SOFTWARE_TARBALL, SF_MODULE_TARBALL.
for v in SF_VERSION SF_SOFTWARE_TARBALL SF_MODULE_TARBALL; do
  if [[ -z "${!v}" ]]; then echo "verify: $v is not set" >&2; exit 2; fi
done
failed=()
ok()   { echo "CHECK $1: ok${2:+ ($2)}"; }
fail() { echo "CHECK $1: FAILED${2:+ ($2)}"; failed+=("$1"); }

prefix="$(mktemp -d "${TMPDIR:-/tmp}/sf-verify.XXXXXX")"
cleanup() { rm -rf "$prefix"; }
trap cleanup EXIT
echo "verify: extracting $(basename "$SF_SOFTWARE_TARBALL") and $(basename "$SF_MODULE_TARBALL") to $prefix"
if tar -xf "$SF_SOFTWARE_TARBALL" -C "$prefix" && tar -xf "$SF_MODULE_TARBALL" -C "$prefix" \
   && [[ -d "$prefix/software/bin" ]]; then
  ok extract
else
  fail extract "no software/bin after extraction"; exit 1
fi
sw="$prefix/software"

# --- every ELF resolves its libraries inside the package or to the system
# baseline (glibc and companions, libgcc_s, libstdc++), without
# LD_LIBRARY_PATH: this is what the $ORIGIN RUNPATHs and the bundle promise.
baseline_re='^(libc|libm|libmvec|libpthread|libdl|librt|libresolv|libutil|libanl|libnsl|libBrokenLocale|libthread_db|libnss_[a-z0-9_]+|libgcc_s|libstdc\+\+)\.so(\.|$)|^(ld-linux.*|linux-vdso\.so.*)$'
bad=()
nelf=0
while read -r f; do
  [[ "$(od -An -tx1 -N4 "$f" 2>/dev/null | tr -d ' \n')" == 7f454c46 ]] || continue
  nelf=$((nelf + 1))
  while read -r name arrow path _; do
    [[ "$arrow" == "=>" ]] || continue
    [[ "$name" =~ $baseline_re ]] && continue
    [[ "$path" == "$sw"/* ]] && continue
    bad+=("${f#"$sw"/}: $name => $path")
  done < <(env -u LD_LIBRARY_PATH ldd "$f" 2>/dev/null || true)
done < <(find "$sw" -type f | sort)
if [[ ${#bad[@]} -eq 0 && $nelf -gt 0 ]]; then
  ok libraries-resolve "$nelf ELF files, all libraries inside the package or glibc/libgcc/libstdc++"
else
  fail libraries-resolve "${#bad[@]} libraries resolve outside the package"
  printf '  %s\n' "${bad[@]:0:40}"
fi

# --- Lmod: module use / load, honouring SLURM_INSTALL_PREFIX ---------------
set +e
# shellcheck disable=SC1091
source /usr/share/lmod/lmod/init/bash
set -e
export SLURM_INSTALL_PREFIX="$sw"
load_module() {   # $1 = module dir
  module purge >/dev/null 2>&1 || true
  module use "$1" && module load "slurm/$SF_VERSION"
}
if load_module "$prefix/modules" 2>"$prefix/lmod.err" && [[ "$(command -v sinfo)" == "$sw/bin/sinfo" ]]; then
  ok module-lmod "sinfo is $(command -v sinfo)"
else
  fail module-lmod "after module load slurm/$SF_VERSION, sinfo is '$(command -v sinfo)'"
  sed 's/^/  /' "$prefix/lmod.err"
fi
if [[ "${SLURM_ROOT:-}" == "$sw" ]]; then
  ok slurm-root "$SLURM_ROOT"
else
  fail slurm-root "SLURM_ROOT is '${SLURM_ROOT:-}', expected $sw"
fi

# Slurm's client commands look for a configuration even for -V (24.11 asks
# DNS for SRV records when there is none): give them a minimal one.
export SLURM_CONF="$prefix/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=sfsmoke
SlurmctldHost=localhost
PluginDir=$sw/lib/slurm
NodeName=localhost CPUs=1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES
CONF

run_check() {   # name, command...; passes when it exits 0 and names the version
  local name="$1" out rc
  shift
  out="$(timeout 60 "$@" 2>&1)"; rc=$?
  if [[ $rc -eq 0 && "$out" == *"$SF_VERSION"* ]]; then
    ok "$name" "$(head -n1 <<<"$out")"
  else
    fail "$name" "exit $rc"
    # shellcheck disable=SC2001  # indents every line of the output
    sed 's/^/  /' <<<"$out" | tail -n 20
  fi
}
set +e
run_check "sinfo -V" sinfo -V
run_check "srun --version" srun --version
run_check "slurmctld -V" slurmctld -V
run_check "slurmd -V" slurmd -V
run_check "scontrol -V" scontrol -V
set -e

# The Tcl modulefile, read by the same Lmod.
if [[ -d "$prefix/modulefiles" ]]; then
  if load_module "$prefix/modulefiles" 2>"$prefix/lmod.err" && [[ "$(command -v sinfo)" == "$sw/bin/sinfo" ]]; then
    ok module-tcl "sinfo is $(command -v sinfo)"
  else
    fail module-tcl "after module load slurm/$SF_VERSION (Tcl), sinfo is '$(command -v sinfo)'"
    sed 's/^/  /' "$prefix/lmod.err"
  fi
else
  fail module-tcl "the module tarball has no modulefiles/"
fi

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "verify: FAILED checks: ${failed[*]}" >&2
  exit 1
fi
echo "verify: all smoke checks passed"
