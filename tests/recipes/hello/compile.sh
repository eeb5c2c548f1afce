cd "$SF_WORK/src/$SF_SOURCE_TOPDIR"
case " $SF_VARIANTS " in
  *" slow "*)
    # Long enough to watch live and to cancel mid-phase.
    for i in $(seq 1 60); do echo "compiling step $i of 60"; sleep 0.5; done ;;
esac
case " $SF_VARIANTS " in
  *" fail "*)
    # What a failed configure leaves for the debug bundle, and a secret in
    # the environment that the bundle must redact.
    echo "configure: error: the fail variant stops here (cc: $(command -v cc))" > config.log
    export HELLO_API_TOKEN="hello-secret-$SF_BUILD_ID"
    echo "error: the fail variant stops here" >&2; exit 3 ;;
esac
cc_cmd=cc
if command -v ccache >/dev/null; then
  export CCACHE_DIR="$SF_CCACHE_DIR" CCACHE_BASEDIR="$SF_WORK"
  cc_cmd="ccache cc"
fi
make CC="$cc_cmd" -j"$SF_JOBS"
