# Helpers for scripts/setup.sh: which ament prefixes env.sh will provide (sourced, not run).

# system_prefixes SETUP: the AMENT_PREFIX_PATH that a fresh shell gets from sourcing SETUP (a
# ROS 2 setup.bash), whatever the current shell has sourced besides.
system_prefixes() {
    env -i HOME="${HOME:-/root}" PATH=/usr/local/bin:/usr/bin:/bin \
        bash -c "source '$1' >/dev/null 2>&1; printf '%s' \"\${AMENT_PREFIX_PATH:-}\""
}

# prefix_provides PREFIXES PACKAGE: true when one of the colon-separated ament PREFIXES
# registers PACKAGE in its ament index.
prefix_provides() {
    local p prefixes
    IFS=: read -r -a prefixes <<< "$1"
    for p in "${prefixes[@]}"; do
        [ -n "$p" ] && [ -f "$p/share/ament_index/resource_index/packages/$2" ] && return 0
    done
    return 1
}
