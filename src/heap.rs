//! How the allocator gives memory back. A page in flight is several large buffers (the
//! body, about 5 MB; its decoded bars, about 4 MB); glibc's malloc raises its mmap
//! threshold each time such a block is freed, after which those buffers come from the
//! heap and its fragments stay resident. With the threshold fixed, every large buffer is
//! its own mapping, returned whole when freed: at 32 workers on a paid plan's run, peak
//! RSS 131 MB with the moving threshold, 119 MB fixed, the same speed.

/// Blocks from this size up are mapped on their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1 << 20;

/// Called once, first thing in `main`.
pub fn bound_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// For `barfill export`, instead of [`bound_large_buffers`]: its chunks of rows and column
/// buffers are freed and allocated again in a steady cycle, and giving them back to the
/// system each time (trimming the heap, unmapping large blocks) cost a quarter of its CPU
/// in page faults (285,000 minor faults against 73,000 for 4.8 M bars). Its memory is
/// bounded by what is alive at once, so keeping what was freed costs little.
pub fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc parameters; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEPT_BYTES);
        libc::mallopt(libc::M_MMAP_THRESHOLD, KEPT_BYTES);
    }
}

/// Freed memory up to this is kept, and blocks below it come from the heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const KEPT_BYTES: libc::c_int = 32 << 20;
