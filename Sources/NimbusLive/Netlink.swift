import CNetlink
#if canImport(Glibc)
import Glibc
#endif

/// Live mode could not set something up or tear it down. The message says what and why.
public struct LiveError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// A route netlink socket through libnl: links, addresses and routes of the network namespace the
/// calling thread is in when the socket is made. Every change live mode makes to links goes through here.
final class Netlink {
    private let sock: OpaquePointer

    init() throws(LiveError) {
        guard let s = nl_socket_alloc() else { throw LiveError("netlink: cannot allocate a socket") }
        let rc = nl_connect(s, NETLINK_ROUTE)
        guard rc == 0 else {
            nl_socket_free(s)
            throw LiveError("netlink: cannot connect: \(String(cString: nl_geterror(rc)))")
        }
        sock = s
    }

    deinit { nl_socket_free(sock) }

    private func check(_ rc: Int32, _ what: String) throws(LiveError) {
        guard rc >= 0 else { throw LiveError("netlink: \(what): \(String(cString: nl_geterror(rc)))") }
    }

    /// The link called `name` (the caller frees it with `rtnl_link_put`).
    private func link(_ name: String) throws(LiveError) -> OpaquePointer {
        var l: OpaquePointer? = nil
        try check(rtnl_link_get_kernel(sock, 0, name, &l), "no link \(name)")
        guard let l else { throw LiveError("netlink: no link \(name)") }
        return l
    }

    func ifindex(_ name: String) throws(LiveError) -> Int32 {
        let l = try link(name)
        defer { rtnl_link_put(l) }
        return rtnl_link_get_ifindex(l)
    }

    func exists(_ name: String) -> Bool {
        var l: OpaquePointer? = nil
        guard rtnl_link_get_kernel(sock, 0, name, &l) >= 0, let l else { return false }
        rtnl_link_put(l)
        return true
    }

    /// Creates a veth pair in this namespace.
    func addVeth(_ name: String, peer: String) throws(LiveError) {
        try check(rtnl_link_veth_add(sock, name, peer, getpid()), "create veth \(name)/\(peer)")
    }

    /// Applies changes built by `edit` to link `name`.
    private func change(_ name: String, _ what: String, _ edit: (OpaquePointer) throws(LiveError) -> Void) throws(LiveError) {
        let l = try link(name)
        defer { rtnl_link_put(l) }
        guard let c = rtnl_link_alloc() else { throw LiveError("netlink: out of memory") }
        defer { rtnl_link_put(c) }
        try edit(c)
        try check(rtnl_link_change(sock, l, c, 0), "\(what) \(name)")
    }

    /// Moves link `name` into the network namespace open at `fd`.
    func moveToNamespace(_ name: String, fd: Int32) throws(LiveError) {
        try change(name, "move to namespace") { c throws(LiveError) in rtnl_link_set_ns_fd(c, fd) }
    }

    func rename(_ name: String, to newName: String) throws(LiveError) {
        try change(name, "rename") { c throws(LiveError) in rtnl_link_set_name(c, newName) }
    }

    func setMAC(_ name: String, _ mac: [UInt8]) throws(LiveError) {
        try change(name, "set MAC of") { c throws(LiveError) in
            var bytes = mac
            guard let a = nl_addr_build(AF_LLC, &bytes, 6) else { throw LiveError("netlink: out of memory") }
            defer { nl_addr_put(a) }
            rtnl_link_set_addr(c, a)
        }
    }

    func setUp(_ name: String) throws(LiveError) {
        try change(name, "bring up") { c throws(LiveError) in rtnl_link_set_flags(c, UInt32(IFF_UP)) }
    }

    func delete(_ name: String) throws(LiveError) {
        guard let l = rtnl_link_alloc() else { throw LiveError("netlink: out of memory") }
        defer { rtnl_link_put(l) }
        rtnl_link_set_name(l, name)
        try check(rtnl_link_delete(sock, l), "delete \(name)")
    }

    private func ipv4(_ address: UInt32, prefix: Int) throws(LiveError) -> OpaquePointer {
        var bytes: [UInt8] = [UInt8(address >> 24), UInt8(address >> 16 & 0xFF), UInt8(address >> 8 & 0xFF), UInt8(address & 0xFF)]
        guard let a = nl_addr_build(AF_INET, &bytes, 4) else { throw LiveError("netlink: out of memory") }
        nl_addr_set_prefixlen(a, Int32(prefix))
        return a
    }

    /// Adds address/prefix to link `name`.
    func addAddress(_ name: String, _ address: UInt32, prefix: Int) throws(LiveError) {
        let index = try ifindex(name)
        guard let a = rtnl_addr_alloc() else { throw LiveError("netlink: out of memory") }
        defer { rtnl_addr_put(a) }
        rtnl_addr_set_ifindex(a, index)
        let local = try ipv4(address, prefix: prefix)
        defer { nl_addr_put(local) }
        try check(rtnl_addr_set_local(a, local), "address")
        try check(rtnl_addr_add(sock, a, 0), "add address to \(name)")
    }

    /// Adds a route to `destination/prefix` out of link `name`, through `gateway` (or on-link when nil).
    func addRoute(_ destination: UInt32, prefix: Int, dev name: String, gateway: UInt32?) throws(LiveError) {
        let index = try ifindex(name)
        guard let r = rtnl_route_alloc(), let nh = rtnl_route_nh_alloc() else { throw LiveError("netlink: out of memory") }
        defer { rtnl_route_put(r) }
        rtnl_route_set_family(r, UInt8(AF_INET))
        let dst = try ipv4(destination, prefix: prefix)
        defer { nl_addr_put(dst) }
        try check(rtnl_route_set_dst(r, dst), "route destination")
        rtnl_route_nh_set_ifindex(nh, index)
        if let gateway {
            let gw = try ipv4(gateway, prefix: 32)
            defer { nl_addr_put(gw) }
            rtnl_route_nh_set_gateway(nh, gw)
        } else {
            rtnl_route_set_scope(r, UInt8(RT_SCOPE_LINK.rawValue))
        }
        rtnl_route_add_nexthop(r, nh)  // the route owns the nexthop now
        try check(rtnl_route_add(sock, r, 0), "add route via \(name)")
    }
}
