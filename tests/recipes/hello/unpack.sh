# Unpack the cached source into the build's private work dir.
echo "unpacking $SF_SOURCE_FILE for {{ version }} ({{ recipe }}, variants: {{ variants }})"
rm -rf "$SF_WORK/src"
mkdir -p "$SF_WORK/src"
tar -xzf "$SF_SOURCE_FILE" -C "$SF_WORK/src"
ls "$SF_WORK/src/$SF_SOURCE_TOPDIR"
