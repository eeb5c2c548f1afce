cd "$SF_WORK/src/$SF_SOURCE_TOPDIR"
make install DESTDIR="$SF_WORK/destdir" PREFIX="$SF_PREFIX"
rm -rf "$SF_WORK/tree"
mkdir -p "$SF_WORK/tree/software"
cp -a "$SF_WORK/destdir$SF_PREFIX/." "$SF_WORK/tree/software/"
mkdir -p "$SF_WORK/tree/software/sbin" "$SF_WORK/tree/software/share/doc/hello"
echo "hello {{ version }} built by sfactory" > "$SF_WORK/tree/software/share/doc/hello/README"
case " $SF_VARIANTS " in
  *" big "*)
    # An incompressible 1 GiB file, for the fetch benchmark.
    head -c 1073741824 /dev/urandom > "$SF_WORK/tree/software/share/doc/hello/blob" ;;
esac
tar -C "$SF_WORK/tree" -cf "$SF_OUT/tree.tar" software
echo "tree.tar: $(du -h "$SF_OUT/tree.tar" | cut -f1)"
