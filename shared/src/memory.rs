//! What a process needs only while it starts, given back.
//!
//! Before `main`, the dynamic loader fixes up every pointer in the program's read-only data
//! from its relocation table (`.rela.dyn`: 24 bytes per pointer, about 0.5 MB in a function,
//! read once, start to end). Those pages then stay mapped and resident for the life of the
//! process: 0.45 MiB of get-ticket's peak RSS, which is what Lambda's memory size must hold.
//! [`release_startup_pages`] tells the kernel they are no longer needed (`MADV_DONTNEED` on
//! pages of the file that were only read: they leave the process and, should anything read
//! them again, are read from the file again unchanged). docs/performance.md, "Memory", has
//! the figures.

use std::ops::Range;

/// Drops the program's relocation tables from memory; returns the address range released
/// (whole pages inside the tables), or `None` when there is nothing to release or this is not
/// a 64-bit Linux program. Call it first thing in `main`: nothing reads those tables after
/// the loader has, and what the process touches later then counts without them.
pub fn release_startup_pages() -> Option<Range<usize>> {
    imp::release()
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod imp {
    use std::ffi::c_void;
    use std::ops::Range;

    // ELF dynamic section tags (elf.h)
    const DT_NULL: u64 = 0;
    const DT_PLTRELSZ: u64 = 2;
    const DT_RELA: u64 = 7;
    const DT_RELASZ: u64 = 8;
    const DT_JMPREL: u64 = 23;

    /// Finds the relocation tables of the program (not of its libraries: the first object
    /// `dl_iterate_phdr` reports) inside its read-only load segment, into `data`, an
    /// `Option<Range<usize>>`.
    unsafe extern "C" fn first_object(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr hands a valid info for the duration of the call, and `data`
        // is the `Option<Range<usize>>` that `release` passed.
        let (info, found) = unsafe { (&*info, &mut *(data as *mut Option<Range<usize>>)) };
        let base = info.dlpi_addr as usize;
        // SAFETY: the loader's own program headers of this object, dlpi_phnum of them.
        let headers =
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        let at = |address: u64| {
            // The loader may have rewritten these entries to run-time addresses already.
            let address = address as usize;
            if address < base {
                base + address
            } else {
                address
            }
        };
        let (mut rela, mut rela_size, mut plt, mut plt_size) = (0, 0, 0, 0);
        for dynamic in headers.iter().filter(|h| h.p_type == libc::PT_DYNAMIC) {
            let mut entry = (base + dynamic.p_vaddr as usize) as *const [u64; 2];
            loop {
                // SAFETY: the dynamic section is an array of (tag, value) pairs ending in DT_NULL.
                let [tag, value] = unsafe { *entry };
                match tag {
                    DT_NULL => break,
                    DT_RELA => rela = at(value),
                    DT_RELASZ => rela_size = value as usize,
                    DT_JMPREL => plt = at(value),
                    DT_PLTRELSZ => plt_size = value as usize,
                    _ => {}
                }
                // SAFETY: not past DT_NULL.
                entry = unsafe { entry.add(1) };
            }
        }
        if rela != 0 && rela_size != 0 {
            let mut end = rela + rela_size;
            // the PLT's relocations usually follow at once (resolved at start too: BIND_NOW)
            if plt >= end && plt - end < 64 {
                end = plt + plt_size;
            }
            let read_only = headers.iter().any(|h| {
                let start = base + h.p_vaddr as usize;
                h.p_type == libc::PT_LOAD
                    && h.p_flags & libc::PF_W == 0
                    && start <= rela
                    && end <= start + h.p_memsz as usize
            });
            if read_only {
                *found = Some(rela..end);
            }
        }
        1 // the program is the first object; its libraries are not ours to touch
    }

    pub fn release() -> Option<Range<usize>> {
        let mut found: Option<Range<usize>> = None;
        // SAFETY: the callback only reads the loader's structures for the call's duration.
        unsafe { libc::dl_iterate_phdr(Some(first_object), &mut found as *mut _ as *mut c_void) };
        let tables = found?;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let start = tables.start.div_ceil(page) * page;
        let end = tables.end / page * page;
        if end <= start {
            return None;
        }
        // SAFETY: whole pages of a read-only, private file mapping that hold nothing but the
        // relocation tables, which nothing reads after the loader: MADV_DONTNEED drops them
        // from this process; a later read would map the file's unchanged bytes again.
        let done = unsafe { libc::madvise(start as *mut c_void, end - start, libc::MADV_DONTNEED) };
        (done == 0).then_some(start..end)
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod imp {
    pub fn release() -> Option<std::ops::Range<usize>> {
        None
    }
}

#[cfg(all(test, target_os = "linux", target_pointer_width = "64"))]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom};

    /// The mapping of /proc/self/maps that holds `address`: (start, permissions, file offset, path).
    fn mapping_of(address: usize) -> (usize, String, usize, String) {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (start, end) = fields[0].split_once('-').unwrap();
            let start = usize::from_str_radix(start, 16).unwrap();
            let end = usize::from_str_radix(end, 16).unwrap();
            if (start..end).contains(&address) {
                let offset = usize::from_str_radix(fields[2], 16).unwrap();
                return (
                    start,
                    fields[1].into(),
                    offset,
                    fields.get(5).unwrap_or(&"").to_string(),
                );
            }
        }
        panic!("{address:#x} is not mapped");
    }

    #[test]
    fn the_programs_relocation_tables_are_released_and_read_back_unchanged() {
        // This test binary is a position-independent program like the functions: the loader
        // relocated its pointers from its table before main.
        let released = release_startup_pages().expect("a PIE program has relocation tables");
        assert!(!released.is_empty());
        let (start, permissions, offset, path) = mapping_of(released.start);
        assert_eq!(permissions, "r--p", "only read-only pages of the file");
        assert_eq!(path, std::env::current_exe().unwrap().to_str().unwrap());
        assert_eq!(mapping_of(released.end - 1).0, start, "within one mapping");

        // What a read finds now (the pages come back from the file) is the file's bytes.
        // SAFETY: the range is mapped readable (checked above).
        let now = unsafe {
            std::slice::from_raw_parts(released.start as *const u8, released.end - released.start)
        };
        let mut file = std::fs::File::open(&path).unwrap();
        file.seek(SeekFrom::Start((released.start - start + offset) as u64))
            .unwrap();
        let mut original = vec![0; now.len()];
        file.read_exact(&mut original).unwrap();
        assert!(now == original.as_slice());

        // And they are relocation entries, (offset, info, addend), mostly relative ones (the
        // range starts on a page, so an entry starts 0, 8 or 16 bytes into it).
        let relative = if cfg!(target_arch = "aarch64") {
            1027
        } else {
            8
        };
        let (relatives, entries) = [0, 8, 16]
            .iter()
            .map(|&phase| {
                let entries = original[phase..].chunks_exact(24);
                let n = entries.len();
                let info = |e: &[u8]| u64::from_le_bytes(e[8..16].try_into().unwrap());
                (
                    entries
                        .filter(|e| info(e) & 0xffff_ffff == relative)
                        .count(),
                    n,
                )
            })
            .max()
            .unwrap();
        assert!(
            relatives * 2 > entries,
            "{relatives} of {entries} entries are relative relocations"
        );
    }
}
