#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A reusable barrier for worker threads (a `pthread_barrier_t`, allocated once).
public final class Barrier: @unchecked Sendable {
    private let b = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
    public init(count: Int) { pthread_barrier_init(b, nil, UInt32(count)) }
    deinit {
        pthread_barrier_destroy(b)
        b.deallocate()
    }
    public func wait() { _ = pthread_barrier_wait(b) }
}

/// A thread running `body` once; `join` waits for it.
public final class WorkerThread: @unchecked Sendable {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    private var thread = pthread_t()

    public init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { p in
            let box = Unmanaged<Box>.fromOpaque(p!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    public func join() { pthread_join(thread, nil) }
}
