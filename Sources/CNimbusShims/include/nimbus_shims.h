// Compiler builtins the Swift standard library does not expose, for the dataplane's hot path.
#ifndef NIMBUS_SHIMS_H
#define NIMBUS_SHIMS_H

/// Asks the CPU to start loading the cache line of `address` for reading (no fault if it is invalid):
/// a batch computes every packet's table slot first and prefetches them all, so the lookups that follow
/// find their lines already on the way (VPP's two-pass node pattern).
static inline void nimbus_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

/// Tells the CPU this is a spin-wait loop (x86 `pause`, arm64 `yield`): kinder to the sibling hyperthread
/// and to the memory system while a worker waits for its next round.
static inline void nimbus_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
