//! The btrfs ioctls the driver uses, as thin safe functions over file descriptors.
//!
//! Layouts and numbers follow the kernel's UAPI header `linux/btrfs.h` (magic 0x94). Each
//! argument struct has a compile-time size check against the kernel's, so a layout mistake
//! fails the build instead of corrupting a call. Every function here takes descriptors the
//! caller owns and keeps open for the whole call; the unsafe blocks only hand the kernel a
//! pointer to a properly sized, initialised struct on our stack or heap.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

/// `BTRFS_SUPER_MAGIC`: `statfs.f_type` of a btrfs filesystem.
pub const BTRFS_SUPER_MAGIC: i64 = 0x9123_683E;
/// Inode number of every subvolume's root directory (`BTRFS_FIRST_FREE_OBJECTID`).
pub const SUBVOL_ROOT_INO: u64 = 256;

const MAGIC: u8 = 0x94;
const PATH_NAME_MAX: usize = 4087;
const SUBVOL_NAME_MAX: usize = 4039;
const VOL_NAME_MAX: usize = 255;
const INO_LOOKUP_USER_PATH_MAX: usize = 4080 - VOL_NAME_MAX - 1;
const MAX_ROOTREF_BUFFER_NUM: usize = 255;

/// `BTRFS_SUBVOL_RDONLY`: the subvolume (or snapshot) is read-only.
const SUBVOL_RDONLY: u64 = 1 << 1;
const QUOTA_CTL_ENABLE: u64 = 1;
/// `BTRFS_QGROUP_LIMIT_MAX_RFER`: limit the bytes a qgroup refers to.
const QGROUP_LIMIT_MAX_RFER: u64 = 1 << 0;

/// `struct btrfs_ioctl_vol_args`.
#[repr(C)]
struct VolArgs {
    fd: i64,
    name: [u8; PATH_NAME_MAX + 1],
}

/// `struct btrfs_ioctl_vol_args_v2` (the union members flattened to the ones we use).
#[repr(C)]
struct VolArgsV2 {
    fd: i64,
    transid: u64,
    flags: u64,
    unused: [u64; 4],
    name: [u8; SUBVOL_NAME_MAX + 1],
}

/// `struct btrfs_ioctl_ino_lookup_args`.
#[repr(C)]
struct InoLookupArgs {
    treeid: u64,
    objectid: u64,
    name: [u8; 4080],
}

/// `struct btrfs_ioctl_ino_lookup_user_args`.
#[repr(C)]
struct InoLookupUserArgs {
    dirid: u64,
    treeid: u64,
    name: [u8; VOL_NAME_MAX + 1],
    path: [u8; INO_LOOKUP_USER_PATH_MAX],
}

/// One entry of `struct btrfs_ioctl_get_subvol_rootref_args`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RootRef {
    treeid: u64,
    dirid: u64,
}

/// `struct btrfs_ioctl_get_subvol_rootref_args`.
#[repr(C)]
struct RootRefArgs {
    min_treeid: u64,
    rootref: [RootRef; MAX_ROOTREF_BUFFER_NUM],
    num_items: u8,
    align: [u8; 7],
}

/// `struct btrfs_ioctl_quota_ctl_args`.
#[repr(C)]
struct QuotaCtlArgs {
    cmd: u64,
    status: u64,
}

/// `struct btrfs_ioctl_qgroup_create_args`.
#[repr(C)]
struct QgroupCreateArgs {
    create: u64,
    qgroupid: u64,
}

/// `struct btrfs_ioctl_quota_rescan_args`.
#[repr(C)]
struct QuotaRescanArgs {
    flags: u64,
    progress: u64,
    reserved: [u64; 6],
}

/// `struct btrfs_qgroup_limit`.
#[repr(C)]
struct QgroupLimit {
    flags: u64,
    max_rfer: u64,
    max_excl: u64,
    rsv_rfer: u64,
    rsv_excl: u64,
}

/// `struct btrfs_ioctl_qgroup_limit_args`.
#[repr(C)]
struct QgroupLimitArgs {
    qgroupid: u64,
    lim: QgroupLimit,
}

/// `struct btrfs_ioctl_fs_info_args`.
#[repr(C)]
struct FsInfoArgs {
    max_id: u64,
    num_devices: u64,
    fsid: [u8; 16],
    nodesize: u32,
    sectorsize: u32,
    clone_alignment: u32,
    csum_type: u16,
    csum_size: u16,
    flags: u64,
    generation: u64,
    metadata_uuid: [u8; 16],
    reserved: [u8; 944],
}

const _: () = assert!(std::mem::size_of::<VolArgs>() == 4096);
const _: () = assert!(std::mem::size_of::<VolArgsV2>() == 4096);
const _: () = assert!(std::mem::size_of::<InoLookupArgs>() == 4096);
const _: () = assert!(std::mem::size_of::<InoLookupUserArgs>() == 4096);
const _: () = assert!(std::mem::size_of::<RootRefArgs>() == 4096);
const _: () = assert!(std::mem::size_of::<QgroupLimitArgs>() == 48);
const _: () = assert!(std::mem::size_of::<QuotaRescanArgs>() == 64);
const _: () = assert!(std::mem::size_of::<FsInfoArgs>() == 1024);

nix::ioctl_write_ptr!(ioc_snap_destroy, MAGIC, 15, VolArgs);
nix::ioctl_readwrite!(ioc_ino_lookup, MAGIC, 18, InoLookupArgs);
nix::ioctl_write_ptr!(ioc_snap_create_v2, MAGIC, 23, VolArgsV2);
nix::ioctl_write_ptr!(ioc_subvol_create_v2, MAGIC, 24, VolArgsV2);
nix::ioctl_read!(ioc_subvol_getflags, MAGIC, 25, u64);
nix::ioctl_write_ptr!(ioc_subvol_setflags, MAGIC, 26, u64);
nix::ioctl_read!(ioc_fs_info, MAGIC, 31, FsInfoArgs);
nix::ioctl_readwrite!(ioc_quota_ctl, MAGIC, 40, QuotaCtlArgs);
nix::ioctl_write_ptr!(ioc_qgroup_create, MAGIC, 42, QgroupCreateArgs);
nix::ioctl_write_ptr!(ioc_quota_rescan, MAGIC, 44, QuotaRescanArgs);
nix::ioctl_none!(ioc_quota_rescan_wait, MAGIC, 46);
// The kernel declares QGROUP_LIMIT with _IOR although it only reads the argument.
nix::ioctl_read!(ioc_qgroup_limit, MAGIC, 43, QgroupLimitArgs);
nix::ioctl_readwrite!(ioc_get_subvol_rootref, MAGIC, 61, RootRefArgs);
nix::ioctl_readwrite!(ioc_ino_lookup_user, MAGIC, 62, InoLookupUserArgs);

fn errno(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Copy a single path component into a fixed, NUL-terminated name buffer.
fn put_name(buf: &mut [u8], name: &OsStr) -> io::Result<()> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= buf.len() || bytes.contains(&b'/') || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a valid subvolume name"),
        ));
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[bytes.len()] = 0;
    Ok(())
}

/// A heap-allocated, all-zero argument struct (they are 4 KiB: too big to want on the stack).
fn zeroed_box<T: Pod>() -> Box<T> {
    // SAFETY: `Pod` is only implemented for the argument structs above, made of integers and
    // byte arrays, for which all-zero bytes are a valid value.
    unsafe { Box::<T>::new_zeroed().assume_init() }
}

/// Marker for the plain-old-data argument structs that `zeroed_box` may create.
trait Pod {}
impl Pod for VolArgs {}
impl Pod for VolArgsV2 {}
impl Pod for InoLookupArgs {}
impl Pod for InoLookupUserArgs {}
impl Pod for RootRefArgs {}
impl Pod for FsInfoArgs {}

fn c_string(buf: &[u8]) -> OsString {
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    OsStr::from_bytes(&buf[..end]).to_os_string()
}

/// Create an empty subvolume `name` in the directory `dir`.
pub fn subvol_create(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let mut args = zeroed_box::<VolArgsV2>();
    put_name(&mut args.name, name)?;
    // SAFETY: `dir` is an open directory for the whole call and `args` is a zero-initialised
    // btrfs_ioctl_vol_args_v2 of the kernel's size, which the kernel only reads.
    unsafe { ioc_subvol_create_v2(dir.as_raw_fd(), &*args) }.map_err(errno)?;
    Ok(())
}

/// Snapshot the subvolume open as `source` to `name` in the directory `dir`.
pub fn snapshot(
    source: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    readonly: bool,
) -> io::Result<()> {
    let mut args = zeroed_box::<VolArgsV2>();
    args.fd = i64::from(source.as_raw_fd());
    args.flags = if readonly { SUBVOL_RDONLY } else { 0 };
    put_name(&mut args.name, name)?;
    // SAFETY: both descriptors stay open for the call; `args` is a zero-initialised
    // btrfs_ioctl_vol_args_v2 of the kernel's size naming the source by descriptor.
    unsafe { ioc_snap_create_v2(dir.as_raw_fd(), &*args) }.map_err(errno)?;
    Ok(())
}

/// Delete the subvolume `name` in the directory `dir`. Fails with `ENOTEMPTY` while it holds
/// other subvolumes. Space is given back asynchronously by the kernel's cleaner.
pub fn subvol_destroy(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let mut args = zeroed_box::<VolArgs>();
    put_name(&mut args.name, name)?;
    // SAFETY: `dir` is open for the call; `args` is a zero-initialised btrfs_ioctl_vol_args
    // of the kernel's size, which the kernel only reads.
    unsafe { ioc_snap_destroy(dir.as_raw_fd(), &*args) }.map_err(errno)?;
    Ok(())
}

/// Whether the subvolume open as `subvol` is read-only.
pub fn is_readonly(subvol: BorrowedFd<'_>) -> io::Result<bool> {
    let mut flags: u64 = 0;
    // SAFETY: `subvol` is open for the call and `flags` is a u64 the kernel writes into.
    unsafe { ioc_subvol_getflags(subvol.as_raw_fd(), &mut flags) }.map_err(errno)?;
    Ok(flags & SUBVOL_RDONLY != 0)
}

/// Make the subvolume open as `subvol` read-only or writable.
pub fn set_readonly(subvol: BorrowedFd<'_>, readonly: bool) -> io::Result<()> {
    let mut flags: u64 = 0;
    // SAFETY: as in `is_readonly`.
    unsafe { ioc_subvol_getflags(subvol.as_raw_fd(), &mut flags) }.map_err(errno)?;
    let wanted = if readonly {
        flags | SUBVOL_RDONLY
    } else {
        flags & !SUBVOL_RDONLY
    };
    if wanted == flags {
        return Ok(());
    }
    // SAFETY: `subvol` is open for the call and `wanted` is a u64 the kernel only reads.
    unsafe { ioc_subvol_setflags(subvol.as_raw_fd(), &wanted) }.map_err(errno)?;
    Ok(())
}

/// The id (tree id, also its level-0 qgroup id) of the subvolume holding `fd`.
pub fn subvol_id(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut args = zeroed_box::<InoLookupArgs>();
    args.objectid = SUBVOL_ROOT_INO;
    // SAFETY: `fd` is open for the call; `args` is a zero-initialised btrfs_ioctl_ino_lookup_args
    // of the kernel's size. Tree id 0 asks for the descriptor's own subvolume.
    unsafe { ioc_ino_lookup(fd.as_raw_fd(), &mut *args) }.map_err(errno)?;
    Ok(args.treeid)
}

/// A subvolume directly inside another one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildSubvol {
    /// Its id.
    pub id: u64,
    /// Its path relative to the parent subvolume's root directory.
    pub path: std::path::PathBuf,
}

/// The subvolumes directly inside the subvolume whose root directory is open as `subvol`.
pub fn child_subvols(subvol: BorrowedFd<'_>) -> io::Result<Vec<ChildSubvol>> {
    let mut refs = Vec::new();
    let mut args = zeroed_box::<RootRefArgs>();
    loop {
        // SAFETY: `subvol` is open for the call; `args` is a btrfs_ioctl_get_subvol_rootref_args
        // of the kernel's size (min_treeid set by us or by the previous call).
        let r = unsafe { ioc_get_subvol_rootref(subvol.as_raw_fd(), &mut *args) };
        let more = match r {
            Ok(_) => false,
            Err(nix::errno::Errno::EOVERFLOW) => true,
            Err(e) => return Err(errno(e)),
        };
        let n = usize::from(args.num_items).min(MAX_ROOTREF_BUFFER_NUM);
        refs.extend_from_slice(&args.rootref[..n]);
        if !more || n == 0 {
            break;
        }
    }
    let mut children = Vec::with_capacity(refs.len());
    for r in refs {
        let mut look = zeroed_box::<InoLookupUserArgs>();
        look.dirid = r.dirid;
        look.treeid = r.treeid;
        // SAFETY: `subvol` is open for the call; `look` is a zero-initialised
        // btrfs_ioctl_ino_lookup_user_args of the kernel's size.
        unsafe { ioc_ino_lookup_user(subvol.as_raw_fd(), &mut *look) }.map_err(errno)?;
        let dir = c_string(&look.path);
        let name = c_string(&look.name);
        let path = std::path::Path::new(&dir).join(name);
        children.push(ChildSubvol { id: r.treeid, path });
    }
    Ok(children)
}

/// Turn quota groups on for the filesystem holding `fd` (a no-op when they are on already).
pub fn quota_enable(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut args = QuotaCtlArgs {
        cmd: QUOTA_CTL_ENABLE,
        status: 0,
    };
    // SAFETY: `fd` is open for the call and `args` is a btrfs_ioctl_quota_ctl_args.
    unsafe { ioc_quota_ctl(fd.as_raw_fd(), &mut args) }.map_err(errno)?;
    Ok(())
}

/// Recount every qgroup of the filesystem holding `fd` and wait until that is done (limits are
/// not enforced while the counts are inconsistent). A rescan already running is waited for.
pub fn quota_rescan_and_wait(fd: BorrowedFd<'_>) -> io::Result<()> {
    let args = QuotaRescanArgs {
        flags: 0,
        progress: 0,
        reserved: [0; 6],
    };
    // SAFETY: `fd` is open for the call and `args` is a btrfs_ioctl_quota_rescan_args the
    // kernel only reads.
    match unsafe { ioc_quota_rescan(fd.as_raw_fd(), &args) } {
        Ok(_) | Err(nix::errno::Errno::EINPROGRESS) => {}
        Err(e) => return Err(errno(e)),
    }
    // SAFETY: `fd` is open for the call; this ioctl takes no argument.
    unsafe { ioc_quota_rescan_wait(fd.as_raw_fd()) }.map_err(errno)?;
    Ok(())
}

/// Limit the bytes the subvolume open as `subvol` refers to (its own qgroup `0/<id>`).
pub fn qgroup_limit_referenced(subvol: BorrowedFd<'_>, max_bytes: u64) -> io::Result<()> {
    let mut args = QgroupLimitArgs {
        // 0 means the qgroup of the descriptor's own subvolume.
        qgroupid: 0,
        lim: QgroupLimit {
            flags: QGROUP_LIMIT_MAX_RFER,
            max_rfer: max_bytes,
            max_excl: 0,
            rsv_rfer: 0,
            rsv_excl: 0,
        },
    };
    // SAFETY: `subvol` is open for the call and `args` is a btrfs_ioctl_qgroup_limit_args.
    unsafe { ioc_qgroup_limit(subvol.as_raw_fd(), &mut args) }.map_err(errno)?;
    Ok(())
}

/// Remove the level-0 qgroup `0/<subvol_id>` of the filesystem holding `fd`.
/// `ENOENT`: it is gone already; `EBUSY`: its subvolume is still being dropped.
pub fn qgroup_destroy(fd: BorrowedFd<'_>, subvol_id: u64) -> io::Result<()> {
    let args = QgroupCreateArgs {
        create: 0,
        qgroupid: subvol_id,
    };
    // SAFETY: `fd` is open for the call and `args` is a btrfs_ioctl_qgroup_create_args.
    unsafe { ioc_qgroup_create(fd.as_raw_fd(), &args) }.map_err(errno)?;
    Ok(())
}

/// The filesystem id (UUID) of the btrfs holding `fd`, as `btrfs filesystem show` prints it.
pub fn fs_uuid(fd: BorrowedFd<'_>) -> io::Result<String> {
    let mut args = zeroed_box::<FsInfoArgs>();
    // SAFETY: `fd` is open for the call; `args` is a zero-initialised btrfs_ioctl_fs_info_args
    // of the kernel's size (flags 0: the kernel fills the base fields only).
    unsafe { ioc_fs_info(fd.as_raw_fd(), &mut *args) }.map_err(errno)?;
    let h = hex::encode(args.fsid);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}
