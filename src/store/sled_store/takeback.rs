//! The take-back record: a file beside the sled folder (`<data>.takeback`) that keeps, while the
//! store is failed, the values that refused commits replaced ([`FlushControl::undo`]), so that a
//! node killed before its store reopened still takes back at the next start what sled wrote of
//! those commits (`docs/full-disk.md`).
//!
//! The disk is full when it is needed, so its room is reserved at open: the file is allocated
//! to [`RESERVE`] bytes and later writes only overwrite it. Layout, little-endian: the magic
//! `QHTAKEBK`, the body's length (u64), the body's BLAKE3 (32 bytes), then the body: the number
//! of writes (u64), and for each its tree index (u32), key length (u32), key, a flag (0: the
//! key was absent, 1: a value follows), and the value's length (u32) and bytes. An empty record
//! (all zeros) means nothing to take back.
//!
//! [`FlushControl::undo`]: super::flusher::FlushControl::undo

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write as _},
    path::{Path, PathBuf},
};

use crate::store::staging::Write;

/// The bytes reserved for the record. Refused commits that replaced more than this (beside the
/// header) cannot be recorded; the store then behaves as without the record (logged).
pub const RESERVE: u64 = 16 << 20;

const MAGIC: &[u8; 8] = b"QHTAKEBK";
const HEADER: usize = 8 + 8 + 32;

/// The record's path for the store in `data`: `<data>.takeback`, beside the folder.
pub fn path_for(data: &Path) -> PathBuf {
    let mut name = data.file_name().unwrap_or_default().to_os_string();
    name.push(".takeback");
    data.with_file_name(name)
}

/// Makes sure the record's file exists with its room reserved. A file that already holds a
/// record is left as it is.
///
/// # Errors
///
/// The file cannot be created, or its room cannot be allocated (a full disk).
pub fn reserve(path: &Path) -> std::io::Result<()> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)?;
    if file.metadata()?.len() < RESERVE {
        allocate(&file, RESERVE)?;
        file.sync_all()?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
    }
    Ok(())
}

/// Allocates `len` bytes of `file` on disk, so that overwriting them never needs new room.
fn allocate(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len).map_err(std::io::Error::other)?;
    // SAFETY: a plain system call on a descriptor this function borrows.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}

/// Overwrites the record with `writes` (the refused commits' replaced values, oldest first) and
/// syncs it; an empty list clears it.
///
/// # Errors
///
/// The file is missing, the list does not fit in [`RESERVE`], or writing or syncing fails.
pub fn save<'a>(path: &Path, writes: impl Iterator<Item = &'a Write>) -> std::io::Result<()> {
    let mut body = Vec::new();
    let mut count = 0u64;
    body.extend_from_slice(&0u64.to_le_bytes());
    for (tree, key, old) in writes {
        count += 1;
        body.extend_from_slice(&u32::try_from(*tree).unwrap_or(u32::MAX).to_le_bytes());
        body.extend_from_slice(&len32(key.len())?.to_le_bytes());
        body.extend_from_slice(key);
        match old {
            None => body.push(0),
            Some(v) => {
                body.push(1);
                body.extend_from_slice(&len32(v.len())?.to_le_bytes());
                body.extend_from_slice(v);
            }
        }
    }
    body[..8].copy_from_slice(&count.to_le_bytes());
    let mut out = vec![0u8; HEADER];
    if count > 0 {
        out[..8].copy_from_slice(MAGIC);
        out[8..16].copy_from_slice(&(body.len() as u64).to_le_bytes());
        out[16..48].copy_from_slice(blake3::hash(&body).as_bytes());
        out.extend_from_slice(&body);
    }
    if out.len() as u64 > RESERVE {
        return Err(std::io::Error::other(format!(
            "{} bytes of values to take back do not fit in the {RESERVE} bytes reserved",
            out.len()
        )));
    }
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.write_all(&out)?;
    file.sync_data()
}

fn len32(n: usize) -> std::io::Result<u32> {
    u32::try_from(n).map_err(|_| std::io::Error::other("a value longer than 4 GiB"))
}

/// Reads the record: the writes to take back, oldest first (empty if there is none).
///
/// # Errors
///
/// The file cannot be read, or it holds a record that is damaged (its hash does not match, or
/// its body does not parse): the record was being written when the process died, or the file
/// was altered. The error says which.
pub fn load(path: &Path) -> std::io::Result<Vec<Write>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut header = [0u8; HEADER];
    match file.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    if header[..8] != MAGIC[..] {
        return Ok(Vec::new());
    }
    let damaged = |what: &str| {
        std::io::Error::other(format!("the take-back record {} {what}", path.display()))
    };
    let len = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
    if len > RESERVE {
        return Err(damaged("claims a body larger than its file"));
    }
    let mut body = vec![0u8; len as usize];
    file.seek(SeekFrom::Start(HEADER as u64))?;
    file.read_exact(&mut body)
        .map_err(|_| damaged("is shorter than it says"))?;
    if blake3::hash(&body).as_bytes()[..] != header[16..48] {
        return Err(damaged("does not match its hash"));
    }
    parse(&body).ok_or_else(|| damaged("does not parse"))
}

fn parse(body: &[u8]) -> Option<Vec<Write>> {
    let mut rest = body;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let count = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let mut writes = Vec::new();
    for _ in 0..count {
        let tree = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let klen = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let key = take(klen)?.to_vec();
        let old = match take(1)?[0] {
            0 => None,
            1 => {
                let vlen = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
                Some(sled::IVec::from(take(vlen)?))
            }
            _ => return None,
        };
        writes.push((tree, key, old));
    }
    Some(writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_what_was_saved_and_a_damaged_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("data"));
        assert!(
            load(&path).unwrap().is_empty(),
            "no file: nothing to take back"
        );
        reserve(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), RESERVE);
        assert!(load(&path).unwrap().is_empty(), "a fresh reserve is empty");
        let writes: Vec<Write> = vec![
            (
                0,
                b"plan/1".to_vec(),
                Some(sled::IVec::from(&b"old body"[..])),
            ),
            (3, b"new key".to_vec(), None),
        ];
        save(&path, writes.iter()).unwrap();
        assert_eq!(load(&path).unwrap(), writes);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), RESERVE);
        // One flipped byte in the body.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER + 10] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("does not match its hash"), "{e}");
        // Cleared.
        save(&path, [].iter()).unwrap();
        assert!(load(&path).unwrap().is_empty());
    }

    #[test]
    fn more_than_the_reserve_is_refused_not_written_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("data"));
        reserve(&path).unwrap();
        let big = sled::IVec::from(vec![7u8; RESERVE as usize]);
        let writes: Vec<Write> = vec![(0, b"k".to_vec(), Some(big))];
        assert!(save(&path, writes.iter()).is_err());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), RESERVE);
        assert!(load(&path).unwrap().is_empty());
    }
}
