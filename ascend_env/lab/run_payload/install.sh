#!/bin/bash
# Embedded install script of the ascend lab's fake Huawei .run packages (toolkit, kernels/ops, nnal, driver,
# firmware).  makeself extracts the package to a temporary directory and runs this script there with the
# user's options; package.conf (written at build time by ascend_env/lab/installers.py) says which package
# this is.  It lays down the files the real installers leave behind (version/install info files, links,
# set_env.sh) and nothing else.
#
# Sources of the messages and formats (see also ascend_env/lab/installers.py):
#  [S1] CANN log line "[Toolkit] [20230710-22:44:15] [INFO] ..." (kernels: "[kernels_310b] [...]"), the
#       "LogFile:/var/log/ascend_seclog/ascend_toolkit_install.log" line, "Write Toolkit_InstallPath to
#       /etc/Ascend/ascend_cann_install.info.", the "= Summary =" block and the kernels "install success. The
#       installation path is ..." line: community install transcripts, source repository unknown (toolkit
#       6.3.RC1/7.0.0/8.0.0, kernels-310b 7.0.0/8.0.0).  Log paths also in
#       https://www.hiascend.com/document/detail/en/canncommercial/800/softwareinst/instg/instg_0044.html
#  [S2] "[Toolkit] [20250912-21:52:11] [ERROR] There is no python3.7,python3.8,python3.9,python3.10,python3.11
#       in the current environment !" (CANN 8.2.RC1 log pasted in the numpy-ascend developer notes,
#       qingfengxia/numpy-ascend; same text cited by https://www.hiascend.com/document/caselibrary/detail/canncase_0023)
#  [S3] driver/firmware log lines "[Driver] [2023-07-10 22:24:33] [INFO]Start time: ...", "LogFile:
#       /var/log/ascend_seclog/ascend_install.log", "set username and usergroup, HwHiAiUser:HwHiAiUser",
#       "Driver package installed successfully! The new version takes effect immediately.", "Reboot needed for
#       installation/upgrade to take effect!", "Firmware package installed successfully! Reboot now or after driver
#       installation for the installation/upgrade to take effect.", "Driver package has been installed on the path
#       ..., the version is ..., and the version of this package is ...", "driver and firmware version relationship
#       check success": community install transcripts, source repository unknown (HDK 23.0.rc1, 23.0.0, 24.1.0)
#  [S4] "ERR_NO:0x0091; ERR_DES: HwHiAiUser not exists!": community install notes quoting the driver installer
#       (source repository unknown)
#  [S5] "/etc/Ascend/ascend_cann_install.info exists ! 'install-path' parameter are not supported." and the
#       Install_Path=/Toolkit_InstallPath= keys of that file: Ascend docs quoted in public Dockerfile guides
#       (source repository unknown)
#  [S6] "driver not installed, please install driver first": Ascend/ascend-deployer: playbooks/install/task_firmware.yml
#  [S7] "already installed" in stdout means success to ascend-deployer:
#       Ascend/ascend-deployer: playbooks/install/task_toolkit.yml
#  [S8] "The davinci nodes are occupied by some processes, please stop processes and install or uninstall again,
#       details in : <log>" then "If you want to install or uninstall the driver forcibly, add the force parameter. For
#       details, see [--help].", and the log lines "/dev/davinci_manager has user process: <pids>" / "... has used by
#       docker": the driver package's own scripts (exitInstallInfo, checkUserProcess, checkUserDocker; CANN Open
#       Software License, code-index ids 37093950212 and 37519693671), also quoted with --upgrade --force in
#       https://support.huaweicloud.com/bestpractice-aics/aics_bp_0106.html
#  [S9] "[ERROR]The list of missing tools: lspci,ifconfig", "[ERROR]Dkms install failed, details in :
#       /var/log/ascend_seclog/ascend_install.log." and "[ERROR]Driver_ko_install failed, details in :
#       /var/log/ascend_seclog/ascend_install.log.": hiascend CANN install guide, "Driver Installation Errors"
#       (https://www.hiascend.com/document/detail/en/CANNCommunityEdition/900/softwareinst/instg/instg_0066.html);
#       what the driver builds with (dkms, gcc, make, the running kernel's headers): instg_0051.  dkms's own
#       "Error! Your kernel headers for kernel K cannot be found at /lib/modules/K/build or /lib/modules/K/source."
#       (dkms, quoted in e.g. emilyst/hid-nx-dkms#20) goes to the log, as the real installer logs dkms's output
#  Messages marked "lab wording" below: no public sample was found; the text is ours.

set -u
umask 022
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$HERE/package.conf"

NOW_CANN() { date +"%Y%m%d-%H:%M:%S"; }
NOW_HDK() { date +"%Y-%m-%d %H:%M:%S"; }
LOG_FILE=""
QUIET=n

_line() {  # level message -> one log line in the real format of this package family
    if [ "$PKG_FAMILY" = hdk ]; then
        printf '[%s] [%s] [%s]%s\n' "$PKG_TAG" "$(NOW_HDK)" "$1" "$2"
    else
        printf '[%s] [%s] [%s] %s\n' "$PKG_TAG" "$(NOW_CANN)" "$1" "$2"
    fi
}
log() { local l; l=$(_line "$1" "$2"); [ -n "$LOG_FILE" ] && printf '%s\n' "$l" >>"$LOG_FILE"; return 0; }
say() { local l; l=$(_line "$1" "$2"); printf '%s\n' "$l"; [ -n "$LOG_FILE" ] && printf '%s\n' "$l" >>"$LOG_FILE"; return 0; }
die() { local l; l=$(_line ERROR "$1"); printf '%s\n' "$l" >&2; [ -n "$LOG_FILE" ] && printf '%s\n' "$l" >>"$LOG_FILE"; exit "${2:-1}"; }

print_help() {
    # Layout of Huawei's --help: makeself's own options first, then the package's (the option table of
    # Ascend .run packages, e.g. Ascend/mindxsdk-mxindex install docs: --help|-h, --info, --list, --check,
    # --quiet|-q, --nox11, --noexec, --extract=<path>, --tar, --version, --install, --install-path=<path>,
    # --upgrade).  Wording of each line: lab wording.
    cat <<HELP
Usage: ./$PKG_FILE [options]
Options:
  --help | -h                   Print this message
  --info                        Print embedded info : title, default target directory, embedded script ...
  --list                        Print the list of files in the archive
  --check                       Checks integrity of the archive
  --quiet | -q                  Quiet install mode, skip human-computer interactions
  --nox11                       Do not spawn an xterm
  --noexec                      Do not run embedded script
  --target dir                  Extract directly to a target directory (absolute or relative)
  --tar arg1 [arg2 ...]         Access the contents of the archive through the tar command
  --version                     Query version of the package
HELP
    if [ "$PKG_FAMILY" = hdk ]; then
        cat <<HELP
  --full                        Install in full mode
  --upgrade                     Upgrade the installed $PKG_KIND package
  --uninstall                   Uninstall the installed $PKG_KIND package
  --install-path=<path>         Install to specific dir (default /usr/local/Ascend)
HELP
        [ "$PKG_KIND" = driver ] && cat <<HELP
  --install-for-all             Install for all users
  --install-username=<user>     Run user of the driver (default HwHiAiUser)
  --install-usergroup=<group>   Run group of the driver (default HwHiAiUser)
  --force                       Install, upgrade or uninstall even while processes hold the NPUs
HELP
    else
        cat <<HELP
  --install                     Install run mode
  --full                        Install run mode (same as --install)
  --devel                       Install develop mode
  --upgrade                     Upgrade run mode
  --uninstall                   Uninstall run mode
  --install-path=<path>         Install to specific dir (root: /usr/local/Ascend, others: \$HOME/Ascend)
  --install-for-all             Install for all users
HELP
    fi
    return 0
}

# ---- options --------------------------------------------------------------------------------------------
OP=""
INSTALL_PATH=""
PATH_GIVEN=n
FOR_ALL=n
RUN_USER=""
RUN_GROUP=""
FORCE=n
set_op() {
    if [ -n "$OP" ] && [ "$OP" != "$1" ]; then
        die "Unsupported parameters: --$OP and --$1 cannot be used together."  # lab wording
    fi
    OP=$1
}
for arg in "$@"; do
    case "$arg" in
        -h|--help) print_help; exit 0 ;;
        --version) echo "$PKG_VERSION"; exit 0 ;;
        --quiet|-q) QUIET=y ;;
        --nox11) ;;
        --install) [ "$PKG_FAMILY" = hdk ] && die "Unsupported parameters: $arg"; set_op install ;;
        --devel) [ "$PKG_FAMILY" = hdk ] && die "Unsupported parameters: $arg"; set_op install ;;
        --full) set_op install ;;
        --upgrade) set_op upgrade ;;
        --uninstall) set_op uninstall ;;
        --install-for-all) [ "$PKG_KIND" = firmware ] && die "Unsupported parameters: $arg"; FOR_ALL=y ;;
        --install-path=*) INSTALL_PATH=${arg#--install-path=}; PATH_GIVEN=y ;;
        --install-username=*) [ "$PKG_KIND" = driver ] || die "Unsupported parameters: $arg"; RUN_USER=${arg#*=} ;;
        --install-usergroup=*) [ "$PKG_KIND" = driver ] || die "Unsupported parameters: $arg"; RUN_GROUP=${arg#*=} ;;
        --type=*) [ "$PKG_KIND" = kernels ] || die "Unsupported parameters: $arg" ;;  # old kernels: --type=toolkit|nnae
        --pylocal) [ "$PKG_KIND" = toolkit ] || die "Unsupported parameters: $arg" ;;
        --force) [ "$PKG_KIND" = driver ] || die "Unsupported parameters: $arg"; FORCE=y ;;
        *) die "Unsupported parameters: $arg" ;;  # lab wording
    esac
done
if [ -z "$OP" ]; then
    print_help
    die "Please input an operation parameter: $( [ "$PKG_FAMILY" = hdk ] && echo "--full, --upgrade or --uninstall" || echo "--install, --full, --upgrade or --uninstall")."  # lab wording
fi

# ---- environment ----------------------------------------------------------------------------------------
in_container() {
    case "${ASCEND_LAB_IN_CONTAINER:-}" in
        1|y|yes|true) return 0 ;;
        0|n|no|false) return 1 ;;
    esac
    # Only a container made from the lab's base image counts (it carries this marker).  /.dockerenv is not
    # enough: a CI runner or dev machine may itself be a container whose real /etc must not be written.
    [ -f /etc/ascend-env-lab/container ]
}
# where /etc files go: /etc in a container, $ASCEND_LAB_ROOT/etc outside (a session on a lab host has its root in
# ASCEND_ENV_HOST_ROOT, set by the host's sshd), none otherwise
ETC_DIR=""
ASCEND_LAB_ROOT=${ASCEND_LAB_ROOT:-${ASCEND_ENV_HOST_ROOT:-}}
if in_container; then ETC_DIR=/etc; elif [ -n "$ASCEND_LAB_ROOT" ]; then ETC_DIR="$ASCEND_LAB_ROOT/etc"; fi
IS_ROOT=n; [ "$(id -u)" -eq 0 ] && IS_ROOT=y
MACHINE=${ASCEND_LAB_UNAME_M:-$(uname -m)}

CANN_RECORD=""        # ascend_cann_install.info (root: /etc/Ascend, others: $HOME/Ascend; instg_0044)
if [ "$PKG_FAMILY" = cann ]; then
    if in_container && [ "$IS_ROOT" = n ]; then CANN_RECORD="$HOME/Ascend/ascend_cann_install.info"
    elif [ -n "$ETC_DIR" ]; then CANN_RECORD="$ETC_DIR/Ascend/ascend_cann_install.info"; fi
fi
record_get() { [ -n "$CANN_RECORD" ] && [ -f "$CANN_RECORD" ] && sed -n "s/^$1=//p" "$CANN_RECORD" | tail -n 1; return 0; }

# install path: given > recorded (CANN) > default
if [ "$PATH_GIVEN" = y ]; then
    [ -n "$INSTALL_PATH" ] || die "The install path is empty, please check --install-path."  # lab wording
    case "$INSTALL_PATH" in
        /*) ;;
        "~"*) INSTALL_PATH="$HOME${INSTALL_PATH#\~}" ;;
        *) die "The install path $INSTALL_PATH is not an absolute path, please check --install-path." ;;  # lab wording
    esac
    recorded=$(record_get Install_Path)
    if [ -n "$recorded" ] && [ "${recorded%/}" != "${INSTALL_PATH%/}" ] && [ "$OP" != uninstall ]; then
        die "$CANN_RECORD exists ! 'install-path' parameter are not supported."   # [S5]
    fi
else
    INSTALL_PATH=$(record_get Install_Path)
    if [ -z "$INSTALL_PATH" ]; then
        if [ "$IS_ROOT" = y ] || [ "$PKG_FAMILY" = hdk ]; then INSTALL_PATH=/usr/local/Ascend; else INSTALL_PATH="$HOME/Ascend"; fi
    fi
fi
INSTALL_PATH=$(realpath -m "$INSTALL_PATH")

# safety: outside a container the lab never touches the real /usr/local/Ascend
if ! in_container; then
    case "$INSTALL_PATH/" in
        /usr/local/Ascend/*)
            die "The ascend lab does not install into the real $INSTALL_PATH outside a container; pass --install-path=<dir> to install somewhere else." ;;  # lab wording
    esac
fi

LOG_DIR="$(dirname "$INSTALL_PATH")/ascend_lab_logs"   # lab: not /var/log/ascend_seclog (safety)
open_log() {
    mkdir -p "$LOG_DIR" && LOG_FILE="$LOG_DIR/$LOG_NAME"
    if [ "$PKG_FAMILY" = hdk ]; then
        log INFO "Start time: $(NOW_HDK)"
        say INFO "LogFile: $LOG_FILE"
        say INFO "OperationLogFile: $LOG_DIR/operation.log"
    else
        say INFO "LogFile:$LOG_FILE"
    fi
}

check_arch() {
    [ -z "$PKG_ARCH" ] && return 0
    if [ "$MACHINE" != "$PKG_ARCH" ]; then
        die "The architecture of the package ($PKG_ARCH) does not match the architecture of the current system ($MACHINE), please use the $MACHINE package."  # lab wording
    fi
}

nearest_dir() { local d=$1; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; echo "$d"; }
check_space() {
    local need=${ASCEND_LAB_REQUIRED_KB:-$REQUIRED_KB} dir avail
    dir=$(nearest_dir "$INSTALL_PATH")
    avail=$(df -Pk "$dir" | awk 'NR==2 {print $4}')
    if [ -n "$avail" ] && [ "$avail" -lt "$need" ]; then
        die "The space of $dir is not enough to install $PKG_BASENAME: ${need}KB is required, but only ${avail}KB is available."  # lab wording
    fi
}

check_python() {  # [S2]; the supported range comes from the matrix (cann_python.yaml), embedded at build time
    local cmd out ver mm patch spec
    for cmd in python3 $PY_COMMANDS; do
        command -v "$cmd" >/dev/null 2>&1 || continue
        out=$("$cmd" --version 2>&1) || continue
        ver=$(printf '%s\n' "$out" | sed -n 's/^Python \([0-9][0-9]*\.[0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p' | head -n 1)
        [ -n "$ver" ] || continue
        mm=${ver% *}; patch=${ver#* }
        for spec in $PY_ALLOWED; do  # major.minor:lowest_patch:highest_patch
            IFS=: read -r s_mm s_lo s_hi <<<"$spec"
            if [ "$mm" = "$s_mm" ] && [ "$patch" -ge "$s_lo" ] && [ "$patch" -le "$s_hi" ]; then
                log INFO "Python $mm.$patch ($cmd) is supported."
                return 0
            fi
        done
    done
    die "There is no $PY_MINORS_TEXT in the current environment !"
}

# ---- CANN helpers ---------------------------------------------------------------------------------------
TK_HOME="$INSTALL_PATH/$TK_HOME_REL"
TK_INFO="$INSTALL_PATH/$TK_INFO_REL"
info_get() { [ -f "$1" ] && sed -n "s/^$2=//p" "$1" | head -n 1; return 0; }

installed_toolkits() {  # every real toolkit install info under the install path, both layouts
    local f
    for f in "$INSTALL_PATH"/ascend-toolkit/*/*-linux/ascend_toolkit_install.info \
             "$INSTALL_PATH"/cann-*/*-linux/ascend_toolkit_install.info; do
        [ -f "$f" ] || continue
        case "$f" in "$INSTALL_PATH/ascend-toolkit/latest/"*) continue ;; esac
        echo "$f"
    done
}

write_version_info() {  # dir
    mkdir -p "$1"
    {
        echo "Version=$NUMERIC_VERSION"
        echo "version_dir=$PKG_VERSION"
        [ -n "$TIMESTAMP" ] && echo "timestamp=$TIMESTAMP"
        return 0
    } >"$1/version.info"
}

write_record() {
    [ -n "$CANN_RECORD" ] || { log INFO "No place for ascend_cann_install.info outside a container (set ASCEND_LAB_ROOT); skipped."; return 0; }
    mkdir -p "$(dirname "$CANN_RECORD")"
    {
        echo "Install_Path=$INSTALL_PATH"
        echo "Toolkit_InstallPath=$INSTALL_PATH/$(dirname "$SET_ENV_REL")"
    } >"$CANN_RECORD"
    say INFO "Write Toolkit_InstallPath to $CANN_RECORD."   # [S1]
}

write_set_env() {
    local home="$INSTALL_PATH/$LATEST_LINK_REL" drv="$INSTALL_PATH/driver"
    mkdir -p "$(dirname "$INSTALL_PATH/$SET_ENV_PHYS_REL")"
    # Content of the real set_env.sh (CANN 7.0-8.3), as copied into public Dockerfiles and guides, e.g. the
    # ggml CANN Dockerfile and Ascend/ModelZoo READMEs; the real file spells the driver as /usr/local/Ascend/driver
    # and the op_tiling arch as $(arch) -- the lab uses the install path and the package arch.
    cat >"$INSTALL_PATH/$SET_ENV_PHYS_REL" <<SETENV
export LD_LIBRARY_PATH=$drv/lib64:$drv/lib64/common:$drv/lib64/driver:\$LD_LIBRARY_PATH
export ASCEND_TOOLKIT_HOME=$home
export LD_LIBRARY_PATH=\${ASCEND_TOOLKIT_HOME}/lib64:\${ASCEND_TOOLKIT_HOME}/lib64/plugin/opskernel:\${ASCEND_TOOLKIT_HOME}/lib64/plugin/nnengine:\${ASCEND_TOOLKIT_HOME}/opp/built-in/op_impl/ai_core/tbe/op_tiling/lib/linux/$PKG_ARCH:\$LD_LIBRARY_PATH
export LD_LIBRARY_PATH=\${ASCEND_TOOLKIT_HOME}/tools/aml/lib64:\${ASCEND_TOOLKIT_HOME}/tools/aml/lib64/plugin:\$LD_LIBRARY_PATH
export PYTHONPATH=\${ASCEND_TOOLKIT_HOME}/python/site-packages:\${ASCEND_TOOLKIT_HOME}/opp/built-in/op_impl/ai_core/tbe:\$PYTHONPATH
export PATH=\${ASCEND_TOOLKIT_HOME}/bin:\${ASCEND_TOOLKIT_HOME}/compiler/ccec_compiler/bin:\${ASCEND_TOOLKIT_HOME}/tools/ccec_compiler/bin:\$PATH
export ASCEND_AICPU_PATH=\${ASCEND_TOOLKIT_HOME}
export ASCEND_OPP_PATH=\${ASCEND_TOOLKIT_HOME}/opp
export TOOLCHAIN_HOME=\${ASCEND_TOOLKIT_HOME}/toolkit
export ASCEND_HOME_PATH=\${ASCEND_TOOLKIT_HOME}
SETENV
}

point_latest() {
    local link="$INSTALL_PATH/$LATEST_LINK_REL"
    mkdir -p "$(dirname "$link")"
    rm -f "$link"
    ln -s "$LINK_TARGET" "$link"
    if [ -n "$COMPAT_LINK_REL" ]; then  # 8.5+: ascend-toolkit/latest and ascend-toolkit/set_env.sh still lead to it
        mkdir -p "$INSTALL_PATH/ascend-toolkit"
        rm -f "$INSTALL_PATH/$COMPAT_LINK_REL" "$INSTALL_PATH/ascend-toolkit/set_env.sh"
        ln -s "$COMPAT_LINK_TARGET" "$INSTALL_PATH/$COMPAT_LINK_REL"
        ln -s "../$SET_ENV_REL" "$INSTALL_PATH/ascend-toolkit/set_env.sh"
    fi
}

summary() {
    local drv="none"
    [ -f "$INSTALL_PATH/driver/version.info" ] && drv="Installed in $INSTALL_PATH/driver."
    cat <<SUM

===========
= Summary =
===========

Driver:   $drv
Toolkit:  $PKG_BASENAME install success, installed in $INSTALL_PATH.

Please make sure that the environment variables have been configured.
-  To take effect for all users, you can add "source $INSTALL_PATH/$SET_ENV_REL" to /etc/profile.
-  To take effect for current user, you can exec command below: source $INSTALL_PATH/$SET_ENV_REL or add "source $INSTALL_PATH/$SET_ENV_REL" to ~/.bashrc.
SUM
}

toolkit_lay_down() {
    local arch_dir="$TK_HOME/$PKG_ARCH-linux" d
    for d in lib64 lib64/plugin/opskernel lib64/plugin/nnengine bin compiler/ccec_compiler/bin compiler/lib64 \
             python/site-packages opp/built-in/op_impl/ai_core/tbe/impl opp/built-in/op_impl/ai_core/tbe/op_tiling \
             runtime/lib64 toolkit tools/ccec_compiler/bin tools/aml/lib64 include "$PKG_ARCH-linux"; do
        mkdir -p "$TK_HOME/$d"
    done
    write_version_info "$TK_HOME/compiler"
    write_version_info "$TK_HOME/opp"
    write_version_info "$TK_HOME/runtime"
    write_version_info "$TK_HOME/toolkit"
    echo "required_package_opp_kernel_version=\"$NUMERIC_MM\"" >>"$TK_HOME/toolkit/version.info"
    cat >"$TK_INFO" <<INFO
package_name=Ascend-cann-toolkit
version=$PKG_VERSION
innerversion=$INNERVERSION
compatible_version=$COMPATIBLE_VERSION
arch=$PKG_ARCH
os=linux
path=$arch_dir
INFO
    [ "$FOR_ALL" = y ] && echo "Install_For_All=yes" >"$arch_dir/ascend_install.info"
    lab_pause toolkit-links
    write_set_env
    point_latest
    write_record
}

remove_toolkit_info() {  # info file -> removes that toolkit version (its home directory)
    local home
    home=$(dirname "$(dirname "$1")")
    rm -rf "$home"
    log INFO "Remove $home succeed."
}

toolkit_cleanup_links() {
    local link="$INSTALL_PATH/$LATEST_LINK_REL" t
    for t in "$link" "$INSTALL_PATH/ascend-toolkit/latest" "$INSTALL_PATH/cann"; do
        if [ -L "$t" ] && [ ! -e "$t" ]; then rm -f "$t"; fi
    done
    if [ -z "$(installed_toolkits)" ]; then
        rm -f "$INSTALL_PATH/ascend-toolkit/set_env.sh"
        rmdir "$INSTALL_PATH/ascend-toolkit" 2>/dev/null
        if [ -n "$CANN_RECORD" ] && [ -f "$CANN_RECORD" ]; then
            sed -i '/^Toolkit_InstallPath=/d' "$CANN_RECORD"
            grep -q '^Toolkit_InstallPath=' "$CANN_RECORD" || rm -f "$CANN_RECORD"
        fi
    fi
    return 0
}

do_toolkit() {
    local cur f v
    cur=$(info_get "$TK_INFO" version)
    case "$OP" in
        uninstall)
            [ -n "$cur" ] || { say WARNING "$PKG_BASENAME is not installed in $INSTALL_PATH, nothing to uninstall."; exit 0; }  # lab wording
            open_log
            remove_toolkit_info "$TK_INFO"
            toolkit_cleanup_links
            say INFO "$PKG_BASENAME uninstall success."
            exit 0 ;;
    esac
    check_arch
    if [ "$cur" = "$PKG_VERSION" ]; then
        say INFO "$PKG_BASENAME already installed in $INSTALL_PATH, no need to install it again."   # [S7] + lab wording
        exit 0
    fi
    if [ "$OP" = upgrade ] && [ -z "$(installed_toolkits)" ]; then
        die "Ascend-cann-toolkit is not installed in $INSTALL_PATH, upgrade is not supported; please use --install."  # lab wording
    fi
    check_python
    check_space
    open_log
    say INFO "$( [ "$OP" = upgrade ] && echo "upgrade" || echo "install") start"
    say INFO "The installation path is $INSTALL_PATH."
    if [ "$OP" = upgrade ]; then
        for f in $(installed_toolkits); do
            v=$(info_get "$f" version)
            [ "$v" = "$PKG_VERSION" ] && continue
            say INFO "Uninstall the old version $v for the upgrade."
            remove_toolkit_info "$f"
        done
    fi
    toolkit_lay_down
    toolkit_cleanup_links
    summary
    log INFO "$PKG_BASENAME install success."
    exit 0
}

# Fault injection (lab only): while the file /tmp/ascend-lab-pause-<point> exists (in a container; under the lab
# host's root outside one) the installer stops at <point>, after writing <point>.reached beside it, so that a test can
# kill it there. toolkit-links: the version's files and install info are written, latest/ and set_env.sh are not.
lab_pause() {
    local base=/tmp
    in_container || base="${ASCEND_LAB_ROOT:-}/tmp"
    local f="$base/ascend-lab-pause-$1" n=0
    [ -e "$f" ] || return 0
    : >"$f.reached"
    while [ -e "$f" ] && [ "$n" -lt 3000 ]; do sleep 0.2; n=$((n + 1)); done
}

# ---- kernels (ops) --------------------------------------------------------------------------------------
do_kernels() {
    local kdir="$TK_HOME/opp_kernel" soc_dir="$TK_HOME/opp/built-in/op_impl/ai_core/tbe/kernel/$PKG_SOC" tkv cur f
    f=$(ls "$TK_HOME"/*-linux/ascend_toolkit_install.info 2>/dev/null | head -n 1)
    tkv=$(info_get "$f" version)
    cur=$(info_get "$kdir/version.info" version_dir)
    if [ "$OP" = uninstall ]; then
        [ -d "$soc_dir" ] || { say WARNING "$PKG_BASENAME is not installed in $TK_HOME, nothing to uninstall."; exit 0; }  # lab wording
        open_log
        rm -rf "$soc_dir" "$kdir"
        say INFO "$PKG_BASENAME uninstall success."
        exit 0
    fi
    check_arch
    if [ -z "$tkv" ]; then  # the toolkit of another version may be the one installed
        f=$(ls "$INSTALL_PATH/$LATEST_LINK_REL"/*-linux/ascend_toolkit_install.info \
               "$INSTALL_PATH"/ascend-toolkit/latest/*-linux/ascend_toolkit_install.info 2>/dev/null | head -n 1)
        tkv=$(info_get "$f" version)
    fi
    if [ -z "$tkv" ]; then
        die "Ascend-cann-toolkit $PKG_VERSION is not installed in $INSTALL_PATH, please install the toolkit before $PKG_NAME."  # lab wording
    fi
    if [ "$tkv" != "$PKG_VERSION" ]; then
        die "The version of the installed Ascend-cann-toolkit ($tkv) does not match the version of $PKG_BASENAME ($PKG_VERSION), please install the matching toolkit first."  # lab wording
    fi
    if [ "$cur" = "$PKG_VERSION" ] && [ -d "$soc_dir" ]; then
        say INFO "$PKG_BASENAME already installed in $TK_HOME, no need to install it again."   # [S7] + lab wording
        exit 0
    fi
    check_space
    open_log
    say INFO "install start"
    say INFO "The installation path is $(dirname "$TK_HOME")."
    mkdir -p "$soc_dir" "$kdir"
    echo "$PKG_SOC kernels of $PKG_BASENAME (ascend lab placeholder)" >"$soc_dir/README.lab"
    # opp_kernel/version.info: real format from a CANN 8.2.RC1 install (community sample, source repository unknown)
    cat >"$kdir/version.info" <<KV
Version=$NUMERIC_VERSION
version_dir=$PKG_VERSION
${TIMESTAMP:+timestamp=$TIMESTAMP
}ops_version=$NUMERIC_VERSION
adk_version=$NUMERIC_VERSION
required_package_toolkit_version="$NUMERIC_MM"
KV
    cat >"$kdir/ascend_install.info" <<KI
package_name=$PKG_NAME
version=$PKG_VERSION
innerversion=$INNERVERSION
chip=$PKG_CHIP
os=linux
path=$kdir
KI
    say INFO "$PKG_BASENAME install success. The installation path is $(dirname "$TK_HOME")."   # [S1]
    exit 0
}

# ---- nnal -----------------------------------------------------------------------------------------------
do_nnal() {
    local base="$INSTALL_PATH/nnal/atb" vdir home info tkv cur
    vdir="$base/$PKG_VERSION"
    cur=$( [ -f "$vdir/version.info" ] && echo "$PKG_VERSION" )
    if [ "$OP" = uninstall ]; then
        [ -n "$cur" ] || { say WARNING "$PKG_BASENAME is not installed in $INSTALL_PATH, nothing to uninstall."; exit 0; }  # lab wording
        open_log
        rm -rf "$vdir"
        if [ "$(readlink "$base/latest" 2>/dev/null)" = "$PKG_VERSION" ]; then rm -f "$base/latest" "$base/set_env.sh"; fi
        say INFO "$PKG_BASENAME uninstall success."
        exit 0
    fi
    check_arch
    # NNAL needs a toolkit whose set_env.sh has been sourced ("加速库安装之前，需已安装同一版本的Toolkit并配置环境变量":
    # Ascend install guides quoted in community notes); the message is lab wording.
    home=${ASCEND_HOME_PATH:-${ASCEND_TOOLKIT_HOME:-}}
    info=$(ls "$home"/*-linux/ascend_toolkit_install.info 2>/dev/null | head -n 1)
    if [ -z "$home" ] || [ -z "$info" ]; then
        die "Ascend-cann-toolkit environment is not configured (ASCEND_HOME_PATH is not set or has no toolkit); please install the toolkit and source its set_env.sh before installing $PKG_NAME."
    fi
    tkv=$(info_get "$info" version)
    if [ -n "$cur" ]; then
        say INFO "$PKG_BASENAME already installed in $INSTALL_PATH/nnal, no need to install it again."   # [S7] + lab wording
        exit 0
    fi
    check_space
    open_log
    say INFO "install start"
    [ "$tkv" = "$PKG_VERSION" ] || say WARNING "The version of Ascend-cann-toolkit ($tkv) is different from $PKG_NAME ($PKG_VERSION)."
    if [ "$OP" = upgrade ]; then
        local d
        for d in "$base"/*/; do
            d=${d%/}; [ -L "$d" ] && continue
            [ "$(basename "$d")" = "$PKG_VERSION" ] || rm -rf "$d"
        done
    fi
    mkdir -p "$vdir/atb/cxx_abi_0/lib" "$vdir/atb/cxx_abi_1/lib" "$vdir/atb/cxx_abi_0/bin" "$vdir/atb/cxx_abi_1/bin"
    # nnal/atb/latest/version.info format: CANN 8.2.RC1 sample (community sample, source repository unknown)
    cat >"$vdir/version.info" <<NV
    Ascend-cann-atb : $PKG_VERSION
    Ascend-cann-atb Version : $PKG_VERSION
    Platform : $PKG_ARCH
NV
    # set_env.sh: ATB_HOME_PATH=<nnal>/atb/latest/atb/cxx_abi_{0,1} and the LD_LIBRARY_PATH/PATH entries seen in
    # vllm-ascend collect_env dumps (e.g. https://github.com/vllm-project/vllm-ascend/issues/1875); the real script
    # picks the ABI from torch, the lab takes --cxx_abi=0|1 (default 0, as Ascend/cann-container-image fixes it).
    cat >"$vdir/atb/set_env.sh" <<'ATB'
_atb_abi=0
for _arg in "$@"; do case "$_arg" in --cxx_abi=*) _atb_abi=${_arg#--cxx_abi=} ;; esac; done
_atb_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "$_atb_dir" in */nnal/atb/*/atb) _atb_dir="${_atb_dir%/*/atb}/latest/atb" ;; esac
export ATB_HOME_PATH=${_atb_dir}/cxx_abi_${_atb_abi}
export LD_LIBRARY_PATH=${ATB_HOME_PATH}/lib:${ATB_HOME_PATH}/examples:${ATB_HOME_PATH}/tests/atbopstest:${LD_LIBRARY_PATH:-}
export PATH=${ATB_HOME_PATH}/bin:$PATH
export ATB_STREAM_SYNC_EVERY_KERNEL_ENABLE=0
export ATB_OPSRUNNER_SETUP_CACHE_ENABLE=1
export ATB_WORKSPACE_MEM_ALLOC_GLOBAL=0
unset _atb_abi _atb_dir _arg
ATB
    rm -f "$base/latest" "$base/set_env.sh"
    ln -s "$PKG_VERSION" "$base/latest"
    cat >"$base/set_env.sh" <<'TOP'
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/latest/atb/set_env.sh" "$@"
TOP
    say INFO "$PKG_BASENAME install success, the install path is $INSTALL_PATH/nnal."  # lab wording
    echo "Please make sure that the environment variables have been configured."
    echo "-  To take effect for current user, you can exec command below: source $base/set_env.sh or add \"source $base/set_env.sh\" to ~/.bashrc."
    exit 0
}

# ---- driver / firmware ----------------------------------------------------------------------------------
HDK_INFO=""
[ -n "$ETC_DIR" ] && HDK_INFO="$ETC_DIR/ascend_install.info"
hdk_info_set() {  # key value: update one key of ascend_install.info, keep the others
    [ -n "$HDK_INFO" ] || return 0
    mkdir -p "$(dirname "$HDK_INFO")"
    touch "$HDK_INFO"
    sed -i "/^$1=/d" "$HDK_INFO"
    echo "$1=$2" >>"$HDK_INFO"
}
host_view() {  # a path as the lab host sees it (its root is $ASCEND_LAB_ROOT); unchanged elsewhere
    if ! in_container && [ -n "$ASCEND_LAB_ROOT" ]; then
        case "$1" in "${ASCEND_LAB_ROOT%/}"/*) echo "/${1#"${ASCEND_LAB_ROOT%/}"/}"; return ;; esac
    fi
    echo "$1"
}
account_exists() {  # passwd|group name: in the lab host's own /etc (its root) when it has one, else the system's
    if [ -n "$ETC_DIR" ] && [ "$ETC_DIR" != /etc ] && [ -f "$ETC_DIR/$1" ]; then
        grep -q "^$2:" "$ETC_DIR/$1"
    else
        getent "$1" "$2" >/dev/null 2>&1
    fi
}
hdk_info_del() { [ -n "$HDK_INFO" ] && [ -f "$HDK_INFO" ] && sed -i "/^$1/d" "$HDK_INFO"; return 0; }

in_ranges() {  # version "[a,b],[c,d]" -> 0 when a <= version <= b for some range (dotted numeric compare)
    local v=$1 r lo hi
    for r in $(echo "$2" | tr -d '[]' | tr ',' ' ' | xargs -n 2 | tr ' ' ','); do
        lo=${r%,*}; hi=${r#*,}
        if [ "$(printf '%s\n%s\n' "$lo" "$v" | sort -V | head -n1)" = "$lo" ] && \
           [ "$(printf '%s\n%s\n' "$v" "$hi" | sort -V | head -n1)" = "$v" ]; then return 0; fi
    done
    return 1
}

# the host's build tools: under a lab host's root (it carries the marker sysroot.py writes), else this machine's
BUILD_ROOT=""
if ! in_container && [ -n "$ASCEND_LAB_ROOT" ] && [ -f "$ASCEND_LAB_ROOT/etc/ascend-env-lab/host" ]; then
    BUILD_ROOT=${ASCEND_LAB_ROOT%/}
fi
KERNEL_RELEASE=${ASCEND_LAB_UNAME_R:-$(uname -r)}
host_has_tool() {
    local d
    if [ -n "$BUILD_ROOT" ]; then
        for d in usr/local/sbin usr/local/bin usr/sbin usr/bin sbin bin; do
            [ -x "$BUILD_ROOT/$d/$1" ] && return 0
        done
        return 1
    fi
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}
host_has_headers() {
    [ -d "$BUILD_ROOT/lib/modules/$KERNEL_RELEASE/build" ] || [ -d "$BUILD_ROOT/usr/src/kernels/$KERNEL_RELEASE" ]
}
check_driver_tools() {  # [S9]: the installer names the missing tools and stops before anything
    local t missing=""
    for t in lspci ifconfig; do host_has_tool "$t" || missing="${missing:+$missing,}$t"; done
    [ -z "$missing" ] || die "The list of missing tools: $missing"
}
build_driver_modules() {  # [S9]: dkms builds the kernel modules against the running kernel's headers
    local why="" t
    if ! host_has_tool dkms; then
        why="dkms: command not found"  # lab wording (the shell's)
    elif ! host_has_headers; then
        why="Error! Your kernel headers for kernel $KERNEL_RELEASE cannot be found at /lib/modules/$KERNEL_RELEASE/build or /lib/modules/$KERNEL_RELEASE/source."
    else
        for t in gcc make; do host_has_tool "$t" || why="${why:+$why; }$t: command not found"; done  # lab wording
    fi
    [ -z "$why" ] && return 0
    log ERROR "$why"
    say ERROR "Dkms install failed, details in : $LOG_FILE. "
    die "Driver_ko_install failed, details in : $LOG_FILE."
}

# Before it removes an installed driver (overwrite, upgrade, uninstall) the real installer refuses while a process
# holds /dev/davinci_manager (fuser) or, in its docker check, while a running container maps it  [S8].  The lab's
# processes on the NPUs are the ones its npu-busy fault runs, recorded (host pids) in the npu-smi state file beside the
# driver's libraries; the docker check runs only with ASCEND_LAB_DRIVER_DOCKER_CHECK=1 (docs/lab.md says why).
davinci_holders() {
    local state="$INSTALL_PATH/driver/lib64/driver/lab-npu-state.json" pid out=""
    [ -f "$state" ] || return 0
    for pid in $(sed -n 's/^[[:space:]]*"pid":[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$state"); do
        [ -d "/proc/$pid" ] && out="$out $pid"
    done
    echo "${out# }"
}
docker_maps_davinci() {
    case "${ASCEND_LAB_DRIVER_DOCKER_CHECK:-0}" in 1|y|yes|true) ;; *) return 1 ;; esac
    command -v docker >/dev/null 2>&1 || return 1
    local running
    running=$(docker ps -q 2>/dev/null)
    [ -n "$running" ] || return 1
    # shellcheck disable=SC2086
    docker inspect $running 2>/dev/null | grep -q "/dev/davinci_manager"
}
check_occupied() {
    [ "$FORCE" = y ] && return 0
    local pids
    pids=$(davinci_holders)
    if [ -n "$pids" ]; then
        log WARNING "/dev/davinci_manager has user process: $pids"
    elif docker_maps_davinci; then
        log WARNING "/dev/davinci_manager has used by docker"
    else
        return 0
    fi
    printf '%s\n' "$(_line ERROR "$(printf '\033[31m')The davinci nodes are occupied by some processes, please stop processes and install or uninstall again, details in : $LOG_FILE $(printf '\033[0m')")"   # [S8]
    log ERROR "The davinci nodes are occupied by some processes, please stop processes and install or uninstall again."
    say INFO "If you want to install or uninstall the driver forcibly, add the force parameter. For details, see [--help]."   # [S8]
    exit 1
}

do_driver() {
    local ddir="$INSTALL_PATH/driver" cur fw
    cur=$(info_get "$ddir/version.info" Version)
    if [ "$OP" = uninstall ]; then
        [ -n "$cur" ] || { say WARNING "Driver package is not installed on the path $INSTALL_PATH, nothing to uninstall."; exit 0; }  # lab wording
        open_log
        check_occupied
        rm -rf "$ddir"
        hdk_info_del Driver_
        hdk_info_del UserName=; hdk_info_del UserGroup=
        say INFO "Driver package uninstalled successfully! Reboot needed for uninstallation to take effect!"  # lab wording
        exit 0
    fi
    check_arch
    check_driver_tools
    # the run user: given > the one the installed driver recorded > HwHiAiUser.  Lab inference, not a documented
    # behaviour: ascend-deployer runs --upgrade without --install-username, so an upgrade must keep the recorded
    # user (and --install-for-all) or every non-HwHiAiUser site would break on upgrade.
    local user group
    user=${RUN_USER:-$( [ "$OP" = upgrade ] && [ -n "$HDK_INFO" ] && info_get "$HDK_INFO" UserName)}
    user=${user:-HwHiAiUser}
    group=${RUN_GROUP:-$( [ -z "$RUN_USER" ] && [ "$OP" = upgrade ] && [ -n "$HDK_INFO" ] && info_get "$HDK_INFO" UserGroup)}
    group=${group:-$user}
    if [ "$OP" = upgrade ] && [ "$FOR_ALL" = n ] && [ -n "$HDK_INFO" ] && [ "$(info_get "$HDK_INFO" Driver_Install_For_All)" = yes ]; then
        FOR_ALL=y
    fi
    account_exists passwd "$user" || die "ERR_NO:0x0091; ERR_DES: $user not exists! Please add $user first."  # [S4]
    account_exists group "$group" || die "ERR_NO:0x0091; ERR_DES: usergroup $group not exists! Please add $group first."  # [S4]-like
    if [ "$OP" = upgrade ] && [ -z "$cur" ]; then
        die "Driver package is not installed on the path $INSTALL_PATH, upgrade is not supported; please use --full."  # lab wording
    fi
    check_space
    open_log
    [ -n "$cur" ] && say INFO "base version is $cur."
    say WARNING "Do not power off or restart the system during the installation/upgrade"
    say INFO "set username and usergroup, $user:$group"
    fw=$(info_get "$INSTALL_PATH/firmware/version.info" Version)
    if [ -n "$fw" ] && [ -n "$FW_COMPAT" ]; then
        if in_ranges "$fw" "$FW_COMPAT"; then say INFO "driver and firmware version relationship check success"
        else say WARNING "The firmware version $fw is not in the compatible range $FW_COMPAT of this driver."; fi  # lab wording
    fi
    if [ -n "$cur" ]; then
        say INFO "Driver package has been installed on the path $INSTALL_PATH, the version is $cur, and the version of this package is $PKG_FILE_VERSION,do you want to continue?  [y/n] "
        if [ "$QUIET" = n ] && [ -t 0 ]; then read -r ans; case "$ans" in y|Y) ;; *) exit 0 ;; esac; fi
    fi
    [ -n "$cur" ] && check_occupied
    say INFO "driver install type: Direct"
    say INFO "upgradePercentage:10%"
    build_driver_modules
    # The lab's npu-smi library and its state file stand for the driver's own libdrvdsmi_host.so and for the cards
    # themselves: carried over, as a real driver install leaves a working npu-smi and the hardware in place.
    local keep
    keep=$(mktemp -d)
    for f in libdrvdsmi_host.so libdrvdsmi_host.so.lab-fault lab_npu_smi_impl.py lab-npu-state.json; do
        [ -e "$ddir/lib64/driver/$f" ] && cp -p "$ddir/lib64/driver/$f" "$keep/"
    done
    rm -rf "$ddir"
    mkdir -p "$ddir/lib64/common" "$ddir/lib64/driver" "$ddir/tools" "$ddir/script"
    cp "$HERE/version.info" "$ddir/version.info"
    cp -pR "$keep/." "$ddir/lib64/driver/"; rm -rf "$keep"
    # ascend-deployer picks --upgrade when driver/**/upgrade-tool exists (task_driver_common.yml): keep one
    cat >"$ddir/tools/upgrade-tool" <<'UT'
#!/bin/sh
echo "upgrade-tool: ascend lab placeholder, no device to upgrade" >&2
exit 1
UT
    chmod 755 "$ddir/tools/upgrade-tool"
    hdk_info_set UserName "$user"
    hdk_info_set UserGroup "$group"
    hdk_info_set Driver_Install_Type full
    hdk_info_set Driver_Install_Path_Param "$(host_view "$INSTALL_PATH")"
    hdk_info_set Driver_Install_Mode normal
    hdk_info_set Driver_Install_For_All "$( [ "$FOR_ALL" = y ] && echo yes || echo no)"
    say INFO "upgradePercentage:100%"
    if [ -n "$cur" ]; then
        say INFO "Driver package installed successfully! Reboot needed for installation/upgrade to take effect! "
    else
        say INFO "Driver package installed successfully! The new version takes effect immediately. "
    fi
    say INFO "End time: $(NOW_HDK)"
    exit 0
}

do_firmware() {
    local fdir="$INSTALL_PATH/firmware" cur
    cur=$(info_get "$fdir/version.info" Version)
    if [ "$OP" = uninstall ]; then
        [ -n "$cur" ] || { say WARNING "Firmware package is not installed on the path $INSTALL_PATH, nothing to uninstall."; exit 0; }  # lab wording
        open_log
        rm -rf "$fdir"
        hdk_info_del Firmware_
        say INFO "Firmware package uninstalled successfully! Reboot now for the uninstallation to take effect."  # lab wording
        exit 0
    fi
    # ascend-deployer refuses firmware without a driver (task_firmware.yml); so does the lab  [S6]
    [ -f "$INSTALL_PATH/driver/version.info" ] || die "driver not installed, please install driver first"
    if [ "$OP" = upgrade ] && [ -z "$cur" ]; then
        die "Firmware package is not installed on the path $INSTALL_PATH, upgrade is not supported; please use --full."  # lab wording
    fi
    check_space
    open_log
    [ -n "$cur" ] && say INFO "base version is $cur."
    say WARNING "Do not power off or restart the system during the installation/upgrade"
    if [ -n "$cur" ]; then
        say INFO "Firmware package has been installed on the path $INSTALL_PATH, the version is $cur, and the version of this package is $PKG_VERSION,do you want to continue?  [y/n] "
        if [ "$QUIET" = n ] && [ -t 0 ]; then read -r ans; case "$ans" in y|Y) ;; *) exit 0 ;; esac; fi
    fi
    say INFO "upgradePercentage: 0%"
    rm -rf "$fdir"
    mkdir -p "$fdir"
    cp "$HERE/version.info" "$fdir/version.info"
    hdk_info_set Firmware_Install_Type full
    hdk_info_set Firmware_Install_Path_Param "$(host_view "$INSTALL_PATH")"
    say INFO "upgradePercentage: 100%"
    say INFO "Firmware package installed successfully! Reboot now or after driver installation for the installation/upgrade to take effect."
    say INFO "End time: $(NOW_HDK)"
    exit 0
}

case "$PKG_KIND" in
    toolkit) do_toolkit ;;
    kernels) do_kernels ;;
    nnal) do_nnal ;;
    driver) do_driver ;;
    firmware) do_firmware ;;
    *) die "unknown package kind $PKG_KIND" ;;
esac
