//! Copying one regular file's data: reflink (`FICLONE`) where the filesystem shares extents,
//! `copy_file_range` otherwise, plain read/write as the last resort.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// How a file's data was copied (for logs and tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyMethod {
    Reflink,
    CopyFileRange,
    ReadWrite,
}

/// Create `dst` (which must not exist) with `src`'s data. Metadata is the caller's job.
pub fn clone_file(src: &Path, dst: &Path) -> io::Result<CopyMethod> {
    let input = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(src)?;
    let output = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dst)?;
    // SAFETY: both descriptors are open files owned by this function for the whole call;
    // FICLONE takes the source descriptor as its argument and touches no memory of ours.
    let r = unsafe { libc::ioctl(output.as_raw_fd(), libc::FICLONE as _, input.as_raw_fd()) };
    if r == 0 {
        return Ok(CopyMethod::Reflink);
    }
    let len = input.metadata()?.len();
    match copy_range(&input, &output, len) {
        Ok(()) => Ok(CopyMethod::CopyFileRange),
        Err(e) if fallback_errno(&e) => {
            let mut input = input;
            let mut output = output;
            // copy_file_range may have written part of the data before failing: start over.
            output.set_len(0)?;
            io::Seek::seek(&mut input, io::SeekFrom::Start(0))?;
            io::Seek::seek(&mut output, io::SeekFrom::Start(0))?;
            io::copy(&mut input, &mut output)?;
            Ok(CopyMethod::ReadWrite)
        }
        Err(e) => Err(e),
    }
}

fn fallback_errno(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EXDEV) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)
    )
}

fn copy_range(input: &File, output: &File, len: u64) -> io::Result<()> {
    let mut left = len;
    while left > 0 {
        let chunk = left.min(1 << 30) as usize;
        // SAFETY: both descriptors are valid for the call; null offsets mean "use and advance
        // the file offsets", so no memory of ours is passed.
        let n = unsafe {
            libc::copy_file_range(
                input.as_raw_fd(),
                std::ptr::null_mut(),
                output.as_raw_fd(),
                std::ptr::null_mut(),
                chunk,
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            // The source shrank while we copied: what we have is what there is.
            break;
        }
        left -= n as u64;
    }
    Ok(())
}
