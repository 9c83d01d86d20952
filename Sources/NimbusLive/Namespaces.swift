import CNetlink
#if canImport(Glibc)
import Glibc
#endif

/// Named network namespaces, the way `ip netns` keeps them: a file under /run/netns with the namespace
/// bind-mounted on it, so it lives without a process and other tools (`ip netns exec`) find it.
enum NetworkNamespace {
    static let directory = "/run/netns"

    static func path(_ name: String) -> String { "\(directory)/\(name)" }

    static func exists(_ name: String) -> Bool { access(path(name), F_OK) == 0 }

    /// Creates namespace `name`. A helper thread unshares its network namespace and bind-mounts it; the
    /// calling thread stays where it is.
    static func create(_ name: String) throws(LiveError) {
        mkdir(directory, 0o755)
        let p = path(name)
        let fd = Glibc.open(p, O_RDONLY | O_CREAT | O_EXCL, 0o444)
        guard fd >= 0 else { throw LiveError("namespace \(name): cannot create \(p): \(errnoText())") }
        close(fd)
        final class Box: @unchecked Sendable { var error: String? }
        let box = Box()
        let target = p
        let thread = spawn {
            if nimbus_unshare_net() != 0 { box.error = "unshare: \(errnoText())"; return }
            let me = "/proc/self/task/\(nimbus_gettid())/ns/net"
            if mount(me, target, "none", UInt(MS_BIND), nil) != 0 { box.error = "bind mount: \(errnoText())" }
        }
        join(thread)
        if let e = box.error {
            unlink(p)
            throw LiveError("namespace \(name): \(e)")
        }
    }

    /// Removes namespace `name` (it disappears once nothing runs inside it).
    static func delete(_ name: String) {
        let p = path(name)
        umount2(p, Int32(MNT_DETACH))
        unlink(p)
    }

    /// Runs `body` with the calling thread inside namespace `name`, then returns it to where it was.
    static func run<T>(in name: String, _ body: () throws(LiveError) -> T) throws(LiveError) -> T {
        let original = Glibc.open("/proc/self/task/\(nimbus_gettid())/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { throw LiveError("namespace: cannot open the current one: \(errnoText())") }
        defer { close(original) }
        let target = Glibc.open(path(name), O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw LiveError("namespace \(name): \(errnoText())") }
        defer { close(target) }
        guard nimbus_setns_net(target) == 0 else { throw LiveError("namespace \(name): setns: \(errnoText())") }
        defer { _ = nimbus_setns_net(original) }
        return try body()
    }

    /// Opens namespace `name` (for moving links into it).
    static func openFile(_ name: String) throws(LiveError) -> Int32 {
        let fd = Glibc.open(path(name), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LiveError("namespace \(name): \(errnoText())") }
        return fd
    }
}

/// A plain pthread running `body` (namespace changes are per thread; Foundation threads are not needed).
func spawn(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Holder { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    let context = Unmanaged.passRetained(Holder(body)).toOpaque()
    var thread = pthread_t()
    pthread_create(&thread, nil, { raw in
        let holder = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! Holder
        holder.body()
        return nil
    }, context)
    return thread
}

func join(_ thread: pthread_t) { pthread_join(thread, nil) }
