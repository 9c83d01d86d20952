import CNimbusShims
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

/// Hands rounds of work from one caller to helper threads and waits for them to finish.
///
/// A futex barrier costs tens of microseconds per hand-off on a VM, as much as processing a batch. Here
/// the caller bumps a generation; helpers spin on it for a while (in a replay the next round comes within
/// microseconds) and only then sleep on a condition variable, so an idle live site burns no CPU. Each
/// helper counts itself done; the caller spins until all have.
public final class RoundHandOff: @unchecked Sendable {
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let helpers: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Spins before a helper sleeps (about 50-100 µs).
    private static let spins = 20_000

    public init(helpers: Int) {
        self.helpers = helpers
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Caller: starts a round on every helper.
    public func start() {
        pending.store(helpers, ordering: .relaxed)
        pthread_mutex_lock(mutex)
        generation.add(1, ordering: .releasing)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Caller: waits until every helper has finished the round.
    public func finish() {
        var spins = 0
        while pending.load(ordering: .acquiring) != 0 {
            spins += 1
            if spins < RoundHandOff.spins { nimbus_cpu_relax() } else { sched_yield() }
        }
    }

    /// Caller: makes every helper's `awaitRound` return nil.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        start()
    }

    /// Helper: waits for the round after `seen`; returns its generation, or nil once stopped.
    public func awaitRound(after seen: Int) -> Int? {
        var spins = 0
        while generation.load(ordering: .acquiring) == seen {
            spins += 1
            if spins < RoundHandOff.spins {
                nimbus_cpu_relax()
                continue
            }
            pthread_mutex_lock(mutex)
            while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(condition, mutex) }
            pthread_mutex_unlock(mutex)
        }
        return stopping.load(ordering: .acquiring) ? nil : generation.load(ordering: .acquiring)
    }

    /// Helper: reports its part of the round done.
    public func done() { pending.subtract(1, ordering: .releasing) }
}
