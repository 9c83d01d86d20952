#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The monotonic clock the bench times with, and the capture time its synthetic packets carry.
enum BenchClock {
    /// Nanoseconds from CLOCK_MONOTONIC.
    @inline(__always)
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Capture time of the first synthetic packet (2023-11-14); each batch is 1 µs later than the one before.
    static let baseTimestamp: UInt64 = 1_700_000_000 * 1_000_000_000
    static let batchInterval: UInt64 = 1000
}

#if os(Linux)
// glibc functions the Glibc module does not export (malloc.h, and sched.h under _GNU_SOURCE).
@_silgen_name("mallopt") private func c_mallopt(_ parameter: Int32, _ value: Int32) -> Int32
@_silgen_name("sched_setaffinity") private func c_sched_setaffinity(_ pid: Int32, _ size: Int, _ mask: UnsafeRawPointer) -> Int32
#endif

enum SystemInfo {
    /// Resident set size of this process, in bytes (/proc/self/statm).
    static func residentBytes() -> Int {
        #if os(Linux)
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 128)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return 0 }
        let fields = buf[0..<n].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
        return 0
        #endif
    }

    /// The whole of a small file (procfs), or nil.
    static func readSmallFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// The CPU model as /proc/cpuinfo names it ("model name"), or "unknown".
    static var cpuModel: String {
        guard let bytes = readSmallFile("/proc/cpuinfo") else { return "unknown" }
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix("model name"), let colon = text.firstIndex(of: ":") {
                return String(text[text.index(after: colon)...].drop(while: { $0 == " " }))
            }
        }
        return "unknown"
    }

    static var onlineCPUs: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Keeps large allocations (flow tables) in the heap once freed, so a fresh dataplane per new-flows
    /// run reuses memory that is already mapped instead of taking page faults inside the timed loop,
    /// as a long-running dataplane's tables would be.
    static func keepFreedMemoryMapped() {
        #if os(Linux)
        _ = c_mallopt(-3, 1 << 30)      // M_MMAP_THRESHOLD
        _ = c_mallopt(-1, Int32.max)    // M_TRIM_THRESHOLD
        #endif
    }

    /// Pins the calling thread to one CPU (Linux); ignored where that is not possible.
    static func pinCurrentThread(to cpu: Int) {
        #if os(Linux)
        var mask = [UInt8](repeating: 0, count: 128)  // a cpu_set_t: 1024 CPUs
        guard cpu >= 0, cpu / 8 < mask.count else { return }
        mask[cpu / 8] |= UInt8(1 << (cpu % 8))
        _ = mask.withUnsafeBytes { c_sched_setaffinity(0, $0.count, $0.baseAddress!) }
        #endif
    }
}

/// A reusable barrier that keeps the bench's workers in step (a `pthread_barrier_t`, allocated once).
final class Barrier: @unchecked Sendable {
    private let b = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
    init(count: Int) { pthread_barrier_init(b, nil, UInt32(count)) }
    deinit {
        pthread_barrier_destroy(b)
        b.deallocate()
    }
    func wait() { _ = pthread_barrier_wait(b) }
}
