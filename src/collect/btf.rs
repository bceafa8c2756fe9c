//! The part of the kernel's BTF that the CO-RE relocations of whoport's BPF objects can use.
//!
//! aya relocates a program against a target BTF by scanning every type of that BTF once per
//! relocated type, decoding each name on the way: against the whole kernel BTF (about 150,000
//! types) that costs more than parsing it. The relocations only ever look at the types named
//! like the objects' own types and at what those hold by value (members, embedded structures,
//! array elements, through typedefs and qualifiers; a pointer is compatible with any pointer,
//! whatever it points to). [`kernel_subset`] copies exactly those out of the raw kernel BTF into
//! a small BTF with the same names, sizes, members and offsets, whose pointers point to `void`:
//! relocating against it gives the same instructions as relocating against the whole
//! (`tests::the_subset_relocates_every_program_as_the_whole_kernel_btf_does`).

use crate::hash::{HashMap, HashSet, HashSetExt};

/// BTF kinds (include/uapi/linux/btf.h).
const INT: u32 = 1;
const PTR: u32 = 2;
const ARRAY: u32 = 3;
const STRUCT: u32 = 4;
const UNION: u32 = 5;
const ENUM: u32 = 6;
const FWD: u32 = 7;
const TYPEDEF: u32 = 8;
const VOLATILE: u32 = 9;
const CONST: u32 = 10;
const RESTRICT: u32 = 11;
const FUNC: u32 = 12;
const FUNC_PROTO: u32 = 13;
const VAR: u32 = 14;
const DATASEC: u32 = 15;
const FLOAT: u32 = 16;
const DECL_TAG: u32 = 17;
const TYPE_TAG: u32 = 18;
const ENUM64: u32 = 19;

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;

/// A raw (native-endian) BTF blob, checked once: its type and string sections, and where each
/// type's record starts (type ids count from 1).
pub struct Raw<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    /// Offset in `types` of the record of type id `i + 1`.
    at: Vec<u32>,
}

/// One type record: its kind, member count, name, and the word after the info (size or type).
#[derive(Debug, Clone, Copy)]
struct Record {
    kind: u32,
    vlen: usize,
    name: u32,
    size_or_type: u32,
    /// Record length, trailing data included.
    len: usize,
}

impl<'a> Raw<'a> {
    /// `None` when the blob is not a BTF this code understands (another endianness, a kind
    /// it does not know, sections out of bounds).
    pub fn parse(btf: &'a [u8]) -> Option<Raw<'a>> {
        let u32_at = |at: usize| word(btf, at);
        if btf.len() < HEADER_LEN || u16::from_ne_bytes([btf[0], btf[1]]) != MAGIC {
            return None;
        }
        let hdr_len = u32_at(4)? as usize;
        let section = |off: usize, len: usize| {
            let start = hdr_len.checked_add(off)?;
            btf.get(start..start.checked_add(len)?)
        };
        let types = section(u32_at(8)? as usize, u32_at(12)? as usize)?;
        let strings = section(u32_at(16)? as usize, u32_at(20)? as usize)?;
        let mut raw = Raw {
            types,
            strings,
            at: Vec::new(),
        };
        let mut at = 0usize;
        while at < types.len() {
            raw.at.push(u32::try_from(at).ok()?);
            at = at.checked_add(raw.record_at(at)?.len)?;
        }
        (at == types.len()).then_some(raw)
    }

    fn record_at(&self, at: usize) -> Option<Record> {
        let info = word(self.types, at + 4)?;
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        let extra = match kind {
            INT | VAR | DECL_TAG => 4,
            ARRAY => 12,
            STRUCT | UNION | DATASEC | ENUM64 => 12 * vlen,
            ENUM | FUNC_PROTO => 8 * vlen,
            0 | PTR | FWD..=FUNC | FLOAT | TYPE_TAG => 0,
            _ => return None,
        };
        let len = 12 + extra;
        self.types.get(at..at + len)?;
        Some(Record {
            kind,
            vlen,
            name: word(self.types, at)?,
            size_or_type: word(self.types, at + 8)?,
            len,
        })
    }

    /// The record of type id `id` and where it starts.
    fn record(&self, id: u32) -> Option<(usize, Record)> {
        let at = *self.at.get((id as usize).checked_sub(1)?)? as usize;
        Some((at, self.record_at(at)?))
    }

    /// The NUL-terminated string at `offset` of the string section.
    fn string(&self, offset: u32) -> Option<&'a [u8]> {
        let text = self.strings.get(offset as usize..)?;
        Some(&text[..memchr::memchr(0, text)?])
    }

    /// The type ids: 1 to the number of types.
    fn ids(&self) -> impl Iterator<Item = u32> {
        1..=self.at.len() as u32
    }

    /// The type id of the FUNC named `name`.
    #[cfg(test)]
    pub fn func_id(&self, name: &[u8]) -> Option<u32> {
        self.func_ids(&[name])[0]
    }

    /// The type ids of the FUNCs named `names` (in their order; `None`: there is none), in
    /// one pass over the types.
    #[cfg(test)]
    pub fn func_ids(&self, names: &[&[u8]]) -> Vec<Option<u32>> {
        let mut ids = vec![None; names.len()];
        let mut left = names.len();
        for id in self.ids() {
            if left == 0 {
                break;
            }
            let Some((_, r)) = self.record(id).filter(|(_, r)| r.kind == FUNC) else {
                continue;
            };
            let Some(name) = self.string(r.name) else {
                continue;
            };
            for (wanted, found) in names.iter().zip(ids.iter_mut()) {
                if found.is_none() && *wanted == name {
                    *found = Some(id);
                    left -= 1;
                }
            }
        }
        ids
    }

    /// The types a relocation may start from (those named, without their CO-RE flavour, one
    /// of `names`, as [`Raw::roots`] finds them), and the type ids of the FUNCs named `funcs`
    /// (as [`Raw::func_ids`] gives them), in one pass over the types. Most names are told
    /// apart by their first two bytes alone, without reading them to their end and hashing
    /// them (the kernel's BTF has about 150,000 types).
    pub fn named(&self, names: &HashSet<Vec<u8>>, funcs: &[&[u8]]) -> (Vec<u32>, Vec<Option<u32>>) {
        // The first two bytes of a name (0 past its end) as a bit of a 64 Kib map.
        let prefix = |text: &[u8]| {
            usize::from(text[0]) << 8 | usize::from(text.get(1).copied().unwrap_or(0))
        };
        let bit = |map: &[u64], at: usize| map[at / 64] >> (at % 64) & 1 == 1;
        let set = |map: &mut [u64], at: usize| map[at / 64] |= 1 << (at % 64);
        let (mut roots_map, mut funcs_map) = (vec![0u64; 1 << 10], vec![0u64; 1 << 10]);
        for name in names.iter().filter(|name| !name.is_empty()) {
            set(&mut roots_map, prefix(name));
            // A one-byte name is also that byte followed by a flavour ("a___b").
            if name.len() == 1 {
                set(&mut roots_map, prefix(&[name[0], b'_']));
            }
        }
        for func in funcs.iter().filter(|func| !func.is_empty()) {
            set(&mut funcs_map, prefix(func));
        }
        let mut roots = Vec::new();
        let mut ids = vec![None; funcs.len()];
        for (id, &at) in self.ids().zip(&self.at) {
            let at = at as usize;
            let (Some(name), Some(info)) = (word(self.types, at), word(self.types, at + 4)) else {
                continue;
            };
            let kind = (info >> 24) & 0x1f;
            let Some(head) = self.strings.get(name as usize..).filter(|h| !h.is_empty()) else {
                continue;
            };
            let map = match kind {
                FUNC => &funcs_map,
                VAR | DATASEC | DECL_TAG => continue,
                _ => &roots_map,
            };
            if !bit(map, prefix(head)) {
                continue;
            }
            let Some(text) = self.string(name) else {
                continue;
            };
            if kind != FUNC {
                if !text.is_empty() && names.contains(flavorless(text)) {
                    roots.push(id);
                }
            } else if let Some(i) = funcs.iter().position(|func| *func == text) {
                ids[i].get_or_insert(id);
            }
        }
        (roots, ids)
    }

    /// The names of every named type, without their CO-RE flavour (`task_struct___old` is
    /// `task_struct`): what relocations of an object with this BTF may look for.
    pub fn type_names(&self) -> HashSet<&'a [u8]> {
        self.ids()
            .filter_map(|id| self.record(id))
            .filter(|(_, r)| !matches!(r.kind, FUNC | VAR | DATASEC | DECL_TAG))
            .filter_map(|(_, r)| self.string(r.name))
            .filter(|name| !name.is_empty())
            .map(flavorless)
            .collect()
    }

    /// The types named (without their CO-RE flavour) one of `names`, FUNCs and variables
    /// aside: where a relocation of a type named in `names` starts. One name at a time, as
    /// [`Raw::named`] finds them at once.
    #[cfg(test)]
    fn roots(&self, names: &HashSet<Vec<u8>>) -> Vec<u32> {
        self.ids()
            .filter(|&id| {
                self.record(id).is_some_and(|(_, r)| {
                    !matches!(r.kind, FUNC | VAR | DATASEC | DECL_TAG)
                        && self
                            .string(r.name)
                            .is_some_and(|n| !n.is_empty() && names.contains(flavorless(n)))
                })
            })
            .collect()
    }

    /// The types a relocation starting from `roots` can reach: those types, and what they
    /// hold by value, transitively. Pointers are kept, not what they point to.
    fn reachable(&self, roots: Vec<u32>) -> Vec<u32> {
        let mut keep: HashSet<u32> = HashSet::new();
        let mut work = roots;
        while let Some(id) = work.pop() {
            if id == 0 || !keep.insert(id) {
                continue;
            }
            let Some((at, r)) = self.record(id) else {
                continue;
            };
            match r.kind {
                TYPEDEF | VOLATILE | CONST | RESTRICT | TYPE_TAG => work.push(r.size_or_type),
                ARRAY => work.extend(
                    [12, 16]
                        .into_iter()
                        .filter_map(|o| word(self.types, at + o)),
                ),
                STRUCT | UNION => {
                    work.extend((0..r.vlen).filter_map(|m| word(self.types, at + 12 + 12 * m + 4)))
                }
                _ => {}
            }
        }
        let mut keep: Vec<u32> = keep.into_iter().collect();
        keep.sort_unstable();
        keep
    }
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

fn flavorless(name: &[u8]) -> &[u8] {
    memchr::memmem::find(name, b"___").map_or(name, |end| &name[..end])
}

/// A raw BTF holding only the types of `kernel` that relocations of types named in `names`
/// can reach (see the module's documentation), renumbered in their order, with their strings.
/// `None` when `kernel` cannot be read as BTF.
#[cfg(test)]
pub fn kernel_subset(kernel: &[u8], names: &HashSet<Vec<u8>>) -> Option<Vec<u8>> {
    let raw = Raw::parse(kernel)?;
    subset_of(&raw, raw.named(names, &[]).0)
}

/// [`kernel_subset`] of a BTF already parsed, from the `roots` [`Raw::named`] found in it.
pub fn subset_of(raw: &Raw<'_>, roots: Vec<u32>) -> Option<Vec<u8>> {
    let kept = raw.reachable(roots);
    // Old id -> new id; any other type becomes void (0), which only pointers refer to.
    let new_id: HashMap<u32, u32> = kept.iter().zip(1u32..).map(|(&o, n)| (o, n)).collect();
    let id = |old: Option<u32>| old.and_then(|o| new_id.get(&o).copied()).unwrap_or(0);
    let mut strings: Vec<u8> = vec![0];
    let mut string_at: HashMap<u32, u32> = [(0, 0)].into_iter().collect();
    let mut string = |old: Option<u32>| -> Option<u32> {
        let old = old?;
        if let Some(&new) = string_at.get(&old) {
            return Some(new);
        }
        let new = u32::try_from(strings.len()).ok()?;
        strings.extend_from_slice(raw.string(old)?);
        strings.push(0);
        string_at.insert(old, new);
        Some(new)
    };
    let mut types: Vec<u8> = Vec::new();
    for &old in &kept {
        let (at, r) = raw.record(old)?;
        let src = &raw.types[at..at + r.len];
        let w = |i: usize| word(src, 4 * i);
        let mut out: Vec<u32> = (0..r.len / 4).map(w).collect::<Option<_>>()?;
        out[0] = string(Some(r.name))?;
        match r.kind {
            PTR | TYPEDEF | VOLATILE | CONST | RESTRICT | TYPE_TAG => out[2] = id(w(2)),
            ARRAY => (out[3], out[4]) = (id(w(3)), id(w(4))),
            STRUCT | UNION => {
                for m in 0..r.vlen {
                    out[3 + 3 * m] = string(w(3 + 3 * m))?;
                    out[4 + 3 * m] = id(w(4 + 3 * m));
                }
            }
            ENUM => {
                for m in 0..r.vlen {
                    out[3 + 2 * m] = string(w(3 + 2 * m))?;
                }
            }
            ENUM64 => {
                for m in 0..r.vlen {
                    out[3 + 3 * m] = string(w(3 + 3 * m))?;
                }
            }
            INT | FWD | FLOAT => {}
            // Reached only by name: their references are not needed by any relocation.
            _ => {
                out.truncate(3);
                out[1] = FWD << 24;
                out[2] = 0;
            }
        }
        types.extend(out.iter().flat_map(|v| v.to_ne_bytes()));
    }
    let mut btf = Vec::with_capacity(HEADER_LEN + types.len() + strings.len());
    btf.extend(MAGIC.to_ne_bytes());
    btf.extend([1u8, 0]);
    let types_len = u32::try_from(types.len()).ok()?;
    let strings_len = u32::try_from(strings.len()).ok()?;
    for v in [HEADER_LEN as u32, 0, types_len, types_len, strings_len] {
        btf.extend(v.to_ne_bytes());
    }
    btf.extend(types);
    btf.extend(strings);
    Some(btf)
}

/// The names of the types of the BPF `objects` (ELF files with BTF): what their CO-RE
/// relocations look for in the kernel's BTF. `None` when one of them has no readable BTF.
pub fn object_names(objects: &[&[u8]]) -> Option<HashSet<Vec<u8>>> {
    let mut names = HashSet::new();
    for object in objects {
        // The section as it is in the file: parsing the whole object (its programs and
        // relocations) to find it costs ten times more.
        let parsed;
        let btf = match elf_section(object, b".BTF") {
            Some(btf) => btf,
            None => {
                parsed = aya_obj::Object::parse(object).ok()?.btf?.to_bytes();
                &parsed
            }
        };
        names.extend(
            Raw::parse(btf)?
                .type_names()
                .into_iter()
                .map(<[u8]>::to_vec),
        );
    }
    Some(names)
}

/// The section named `name` of `object`, a 64-bit ELF file of this machine's byte order;
/// `None` when it has none or is not such a file.
fn elf_section<'a>(object: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let native = if cfg!(target_endian = "little") { 1 } else { 2 };
    if object.get(..4)? != b"\x7fELF" || *object.get(4)? != 2 || *object.get(5)? != native {
        return None;
    }
    let bytes = |at: usize, n: usize| object.get(at..at.checked_add(n)?);
    let half = |at| bytes(at, 2).map(|b| usize::from(u16::from_ne_bytes([b[0], b[1]])));
    let long = |at| {
        let b = bytes(at, 8)?;
        usize::try_from(u64::from_ne_bytes(b.try_into().ok()?)).ok()
    };
    let (table, entry, count, names_at) = (long(0x28)?, half(0x3a)?, half(0x3c)?, half(0x3e)?);
    // (name's offset in the names section, offset, size) of section `i`.
    let header = |i: usize| {
        let at = table.checked_add(i.checked_mul(entry)?)?;
        Some((
            word(object, at)? as usize,
            long(at + 0x18)?,
            long(at + 0x20)?,
        ))
    };
    let (_, at, size) = header(names_at)?;
    let names = bytes(at, size)?;
    (0..count).find_map(|i| {
        let (named, at, size) = header(i)?;
        let text = names.get(named..)?;
        let end = memchr::memchr(0, text)?;
        (&text[..end] == name).then(|| bytes(at, size)).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::bpf::OBJECTS;

    /// An instruction's code, registers, offset and immediate.
    type Instruction = (u8, u8, u8, i16, i32);

    /// What relocating `object` against `target` makes of each of its functions.
    fn relocated(object: &[u8], target: Option<&aya::Btf>) -> Vec<(String, Vec<Instruction>)> {
        let mut obj = aya_obj::Object::parse(object).expect("the object parses");
        if let Some(target) = target {
            obj.relocate_btf(target).expect("the object relocates");
        }
        obj.functions
            .values()
            .map(|f| {
                let code = f.instructions.iter();
                let code = code.map(|i| (i.code, i.dst_reg(), i.src_reg(), i.off, i.imm));
                (f.name.clone(), code.collect())
            })
            .collect()
    }

    #[test]
    fn the_subset_relocates_every_program_as_the_whole_kernel_btf_does() {
        let Ok(kernel) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            eprintln!("SKIPPED: no /sys/kernel/btf/vmlinux");
            return;
        };
        let names = object_names(&OBJECTS).expect("the embedded objects have BTF");
        for name in ["task_struct", "file", "io_ring_ctx", "unix_sock"] {
            assert!(names.contains(name.as_bytes()), "{name} in {names:?}");
        }
        let subset = kernel_subset(&kernel, &names).expect("the kernel's BTF is read");
        assert!(
            subset.len() * 20 < kernel.len(),
            "{} bytes of {}",
            subset.len(),
            kernel.len()
        );
        let endian = aya::Endianness::default();
        let whole = aya::Btf::parse(&kernel, endian).expect("the kernel's BTF parses");
        let small = aya::Btf::parse(&subset, endian).expect("the subset parses");
        for object in OBJECTS {
            let expected = relocated(object, Some(&whole));
            assert_ne!(relocated(object, None), expected, "relocation changes them");
            assert_eq!(relocated(object, Some(&small)), expected);
        }
    }

    /// A raw BTF of `types` (kind, name offset, size or type; no members: an INT's or a
    /// VAR's word after them is 0) and the string section `strings`.
    fn blob(types: &[(u32, u32, u32)], strings: &[u8]) -> Vec<u8> {
        let types: Vec<u8> = types
            .iter()
            .flat_map(|&(kind, name, size)| {
                let extra = matches!(kind, INT | VAR).then_some(0);
                [name, kind << 24, size].into_iter().chain(extra)
            })
            .flat_map(u32::to_ne_bytes)
            .collect();
        let mut btf = MAGIC.to_ne_bytes().to_vec();
        btf.extend([1u8, 0]);
        let (types_len, strings_len) = (types.len() as u32, strings.len() as u32);
        for v in [HEADER_LEN as u32, 0, types_len, types_len, strings_len] {
            btf.extend(v.to_ne_bytes());
        }
        btf.extend(types);
        btf.extend(strings);
        btf
    }

    #[test]
    fn names_found_at_once_are_those_found_one_at_a_time() {
        // Offsets: 1 file, 6 file___old, 17 sock, 22 bpf_iter_tcp, 35 xfile (36: "file" inside
        // it, no string of its own), 41 a____b (flavoured twice over), 48 task, 53 no end.
        let strings = b"\0file\0file___old\0sock\0bpf_iter_tcp\0xfile\0a____b\0task\0tail";
        let types = [
            (STRUCT, 1, 8),   // 1: file
            (STRUCT, 6, 8),   // 2: file___old, a flavour of file
            (VAR, 1, 1),      // 3: a variable named file: never a root
            (FUNC, 22, 0),    // 4: bpf_iter_tcp
            (FUNC, 22, 0),    // 5: the same name again: the first is the one
            (TYPEDEF, 36, 1), // 6: "file" read from inside "xfile"
            (FUNC, 36, 0),    // 7: a FUNC named "file" from there
            (INT, 17, 4),     // 8: sock: not wanted
            (STRUCT, 41, 8),  // 9: a____b: flavourless "a"
            (STRUCT, 53, 8),  // 10: a name without its end: none
            (STRUCT, 0, 8),   // 11: anonymous
            (STRUCT, 48, 8),  // 12: task
        ];
        let bytes = blob(&types, strings);
        let raw = Raw::parse(&bytes).expect("the blob parses");
        let names = HashSet::from_iter([b"file".to_vec(), b"a".to_vec(), b"task".to_vec()]);
        let funcs: [&[u8]; 4] = [b"bpf_iter_tcp", b"file", b"bpf_iter_udp", b"tail"];
        let (roots, ids) = raw.named(&names, &funcs);
        assert_eq!(roots, vec![1, 2, 6, 9, 12]);
        assert_eq!(ids, vec![Some(4), Some(7), None, None]);
        assert_eq!((roots, ids), (raw.roots(&names), raw.func_ids(&funcs)));
    }

    #[test]
    fn the_kernels_names_found_at_once_are_those_found_one_at_a_time() {
        let Ok(kernel) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            eprintln!("SKIPPED: no /sys/kernel/btf/vmlinux");
            return;
        };
        let raw = Raw::parse(&kernel).expect("the kernel's BTF is read");
        let mut names = object_names(&OBJECTS).expect("the embedded objects have BTF");
        names.extend([b"sk_buff".to_vec(), b"no_such_type_anywhere".to_vec()]);
        let funcs: [&[u8]; 4] = [b"bpf_iter_task_file", b"bpf_iter_tcp", b"no_such_func", b""];
        let (roots, ids) = raw.named(&names, &funcs);
        assert!(roots.len() > names.len() / 2, "{} roots", roots.len());
        assert!(ids[0].is_some() && ids[1].is_some(), "{ids:?}");
        assert_eq!((roots, ids), (raw.roots(&names), raw.func_ids(&funcs)));
    }

    #[test]
    fn the_objects_names_read_from_their_section_are_those_of_the_parsed_object() {
        for object in OBJECTS {
            let section = elf_section(object, b".BTF").expect("the object has a .BTF section");
            let parsed = aya_obj::Object::parse(object).expect("it parses");
            let parsed = parsed.btf.expect("it has BTF").to_bytes();
            let names = |btf: &[u8]| -> HashSet<Vec<u8>> {
                let raw = Raw::parse(btf).expect("BTF");
                raw.type_names().into_iter().map(<[u8]>::to_vec).collect()
            };
            let from_section = names(section);
            assert!(
                from_section.contains(&b"task_struct"[..])
                    || from_section.contains(&b"io_ring_ctx"[..])
            );
            assert_eq!(from_section, names(&parsed));
        }
        assert_eq!(elf_section(OBJECTS[0], b".no_such_section"), None);
        assert_eq!(elf_section(b"\x7fELF but nothing more", b".BTF"), None);
        assert_eq!(elf_section(&OBJECTS[0][..100], b".BTF"), None, "cut short");
    }

    #[test]
    fn a_blob_that_is_not_btf_is_refused() {
        let names = HashSet::from_iter([b"file".to_vec()]);
        assert_eq!(kernel_subset(b"garbage, not BTF at all", &names), None);
        let Some(kernel) = std::fs::read("/sys/kernel/btf/vmlinux").ok() else {
            return;
        };
        assert_eq!(
            kernel_subset(&kernel[..kernel.len() / 2], &names),
            None,
            "truncated"
        );
    }
}
