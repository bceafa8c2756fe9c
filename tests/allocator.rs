//! Large blocks are given back to the kernel when freed, whatever was freed before them
//! (src/allocator.rs): glibc's threshold no longer rises after the first large block.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_large_block_freed_after_a_larger_one_is_given_back() {
    whoport::allocator::give_large_blocks_back();
    let resident = || -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
        let pages: u64 = statm
            .split(' ')
            .nth(1)
            .expect("resident")
            .parse()
            .expect("number");
        pages * 4096
    };
    // The larger block first: with glibc's default, freeing it raises the threshold to its
    // size, so the next ones come from the heap and stay resident when freed.
    let mut blocks = Vec::new();
    let before = resident();
    for size in [24usize << 20, 16 << 20, 12 << 20] {
        let block = std::hint::black_box(vec![1u8; size]);
        blocks.push(block.len());
        drop(block);
    }
    let kept = resident().saturating_sub(before);
    assert_eq!(blocks.len(), 3);
    assert!(
        kept < 4 << 20,
        "{kept} bytes stayed resident after freeing blocks of {blocks:?} bytes"
    );
}
