import CNetlink
import NimbusDataplane
import NimbusWire
#if canImport(Glibc)
import Glibc
#endif

/// What `nimbus up` builds on this host for a site, and how to find it again: one network namespace per
/// instance (its end of a veth named `eth0`, the instance's MAC and address, a default route through its
/// subnet's gateway) and one for the internet hosts; the other ends of the veths stay in the root
/// namespace as the dataplane's ports. The plan is written to a state file before anything is made, so
/// `nimbus down` can remove it all after a crash.
public struct LivePlan: Sendable {
    public struct Link: Sendable {
        /// The dataplane port it serves.
        public var port: UInt16
        /// The root-side end (the dataplane's port).
        public var rootSide: String
        public var namespace: String
        /// Inside the namespace: MAC, addresses (address, prefix length), default route (gateway or on-link).
        public var mac: MACAddress
        public var addresses: [(UInt32, Int)]
        public var gateway: UInt32?
    }

    public var site: String
    public var links: [Link]
    /// Internet host names (all live in the internet namespace).
    public var hostNames: [String]
    public var namespaces: [String] { links.map(\.namespace) }

    public static let stateDirectory = "/run/nimbus"
    public var stateFile: String { "\(LivePlan.stateDirectory)/\(site).state" }

    /// The namespace of an instance (or of the internet hosts, `internet`).
    public static func namespace(site: String, name: String) -> String { "nb-\(site)-\(name)" }

    public init(config: DataplaneConfig, internetHosts: [(name: String, ip: IPv4Address)]) {
        site = config.name
        hostNames = internetHosts.map(\.name)
        let tag = String(UInt32(truncatingIfNeeded: stableHash64(config.name)) & 0xFFFF, radix: 16)
        links = config.ports.enumerated().map { i, p in
            let root = "nb\(tag)p\(i)"
            if i == 0 {
                return Link(port: 0, rootSide: root, namespace: LivePlan.namespace(site: config.name, name: "internet"),
                            mac: p.peerMAC, addresses: internetHosts.map { ($0.ip.value, 32) }, gateway: nil)
            }
            let subnet = config.subnets[p.subnet]
            return Link(port: UInt16(i), rootSide: root, namespace: LivePlan.namespace(site: config.name, name: p.name),
                        mac: p.peerMAC, addresses: [(p.ip.value, subnet.cidr.prefixLength)], gateway: subnet.gateway.value)
        }
    }

    /// The state file's text: one line per link, `namespace root-side`.
    var stateText: String {
        "nimbus-state v1 \(site) \(getpid())" + hostNames.map { " " + $0 }.joined() + "\n" + links.map { "\($0.namespace) \($0.rootSide)\n" }.joined()
    }
}

func stableHash64(_ s: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    return h
}

/// Builds and removes the links and namespaces of a plan.
public enum LiveNetwork {
    /// Creates everything in `plan`. Refuses when a state file or any of the names already exist.
    public static func build(_ plan: LivePlan) throws(LiveError) {
        if access(plan.stateFile, F_OK) == 0 {
            throw LiveError("site \(plan.site) is already up (or left over from a crash): \(plan.stateFile) exists; run `nimbus down` first")
        }
        let nl = try Netlink()
        for l in plan.links {
            if NetworkNamespace.exists(l.namespace) { throw LiveError("namespace \(l.namespace) already exists; run `nimbus down` first") }
            if nl.exists(l.rootSide) { throw LiveError("link \(l.rootSide) already exists; run `nimbus down` first") }
        }
        mkdir(LivePlan.stateDirectory, 0o755)
        try writeFile(plan.stateFile, plan.stateText)
        do {
            for l in plan.links { try buildLink(l, nl) }
        } catch {
            teardown(namespaces: plan.namespaces, links: plan.links.map(\.rootSide))
            unlink(plan.stateFile)
            throw error
        }
    }

    private static func buildLink(_ l: LivePlan.Link, _ nl: Netlink) throws(LiveError) {
        try NetworkNamespace.create(l.namespace)
        let peer = l.rootSide + "i"
        try nl.addVeth(l.rootSide, peer: peer)
        writeSysctl("net/ipv6/conf/\(l.rootSide)/disable_ipv6", "1")
        disableOffloads(l.rootSide)
        try nl.setUp(l.rootSide)
        let fd = try NetworkNamespace.openFile(l.namespace)
        defer { close(fd) }
        try nl.moveToNamespace(peer, fd: fd)
        let mac = l.mac
        try NetworkNamespace.run(in: l.namespace) { () throws(LiveError) in
            let inner = try Netlink()
            try inner.rename(peer, to: "eth0")
            writeSysctl("net/ipv6/conf/eth0/disable_ipv6", "1")
            writeSysctl("net/ipv6/conf/all/disable_ipv6", "1")
            disableOffloads("eth0")
            try inner.setMAC("eth0", (0..<6).map { UInt8(truncatingIfNeeded: mac.value >> UInt64(40 - 8 * $0)) })
            try inner.setUp("lo")
            try inner.setUp("eth0")
            for (address, prefix) in l.addresses { try inner.addAddress("eth0", address, prefix: prefix) }
            if let gw = l.gateway {
                try inner.addRoute(0, prefix: 0, dev: "eth0", gateway: gw)
            } else {
                // The internet hosts: everything is on the link; the dataplane answers ARP for the site's addresses.
                try inner.addRoute(0, prefix: 0, dev: "eth0", gateway: nil)
            }
        }
    }

    /// Stops what runs inside the namespaces, then removes the links and namespaces (missing ones are skipped).
    public static func teardown(namespaces: [String], links: [String]) {
        for ns in namespaces { killProcesses(in: ns) }
        if let nl = try? Netlink() {
            for l in links where nl.exists(l) { try? nl.delete(l) }
        }
        for ns in namespaces { NetworkNamespace.delete(ns) }
    }

    /// Removes what the state files under /run/nimbus describe (all sites, or one). Returns the sites.
    @discardableResult
    public static func down(site: String? = nil) -> [String] {
        var sites: [String] = []
        guard let dir = opendir(LivePlan.stateDirectory) else { return sites }
        var files: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".state") { files.append(name) }
        }
        closedir(dir)
        for f in files.sorted() {
            let s = String(f.dropLast(6))
            if let site, site != s { continue }
            let path = "\(LivePlan.stateDirectory)/\(f)"
            guard let text = readFile(path) else { continue }
            var namespaces: [String] = [], links: [String] = []
            for line in text.split(separator: "\n").dropFirst() {
                let parts = line.split(separator: " ")
                if parts.count == 2 { namespaces.append(String(parts[0])); links.append(String(parts[1])) }
            }
            teardown(namespaces: namespaces, links: links)
            unlink(path)
            sites.append(s)
        }
        return sites
    }

    /// Terminates every process whose network namespace is `name` (SIGTERM, then SIGKILL).
    static func killProcesses(in name: String) {
        var st = stat()
        guard stat(NetworkNamespace.path(name), &st) == 0 else { return }
        let inode = st.st_ino
        func members() -> [pid_t] {
            var pids: [pid_t] = []
            guard let dir = opendir("/proc") else { return pids }
            while let e = readdir(dir) {
                let entry = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard let pid = pid_t(entry), pid != getpid() else { continue }
                var ps = stat()
                if stat("/proc/\(pid)/ns/net", &ps) == 0 && ps.st_ino == inode { pids.append(pid) }
            }
            closedir(dir)
            return pids
        }
        let first = members()
        if first.isEmpty { return }
        for p in first { kill(p, SIGTERM) }
        for _ in 0..<20 {
            if members().isEmpty { return }
            usleep(50_000)
        }
        for p in members() { kill(p, SIGKILL) }
    }

    /// Runs `argv` inside the namespace of instance (or internet host) `name`, replacing this process.
    /// Returns only on failure.
    public static func exec(name: String, argv: [String]) -> LiveError {
        let found = findNamespaces(name)
        guard found.count == 1, let ns = found.first?.namespace else {
            if found.isEmpty {
                return LiveError("no running instance or internet host named '\(name)' (is `nimbus up` running?)")
            }
            let sites = found.map(\.site).sorted().joined(separator: ", ")
            return LiveError("'\(name)' runs in several sites (\(sites)): name it SITE/\(name)")
        }
        let fd = Glibc.open(NetworkNamespace.path(ns), O_RDONLY | O_CLOEXEC)
        guard fd >= 0, nimbus_setns_net(fd) == 0 else { return LiveError("enter \(ns): \(errnoText())") }
        // The command gets every signal, whatever mask this process inherited.
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
        var cargs = argv.map { strdup($0) } + [nil]
        execvp(argv[0], &cargs)
        return LiveError("\(argv[0]): \(errnoText())")
    }

    /// The namespace of `name` among running sites: an instance, `internet`, or any internet host name.
    static func findNamespaces(_ name: String) -> [(site: String, namespace: String)] {
        guard let dir = opendir(LivePlan.stateDirectory) else { return [] }
        defer { closedir(dir) }
        var found: [(site: String, namespace: String)] = []
        while let e = readdir(dir) {
            let f = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard f.hasSuffix(".state"), let text = readFile("\(LivePlan.stateDirectory)/\(f)") else { continue }
            let site = String(f.dropLast(6))
            let hosts = text.split(separator: "\n").first.map { $0.split(separator: " ").dropFirst(4).map(String.init) } ?? []
            for line in text.split(separator: "\n").dropFirst() {
                let ns = String(line.split(separator: " ")[0])
                if ns == LivePlan.namespace(site: site, name: name) || name == "\(site)/\(ns.dropFirst(4 + site.count))" {
                    found.append((site, ns))
                } else if ns == LivePlan.namespace(site: site, name: "internet")
                            && (hosts.contains(name) || hosts.contains { name == "\(site)/\($0)" }) {
                    found.append((site, ns))
                }
            }
        }
        return found
    }
}

func writeFile(_ path: String, _ text: String) throws(LiveError) {
    let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw LiveError("\(path): \(errnoText())") }
    defer { close(fd) }
    let ok = text.withCString { write(fd, $0, strlen($0)) } >= 0
    guard ok else { throw LiveError("\(path): \(errnoText())") }
}

func readFile(_ path: String) -> String? {
    let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &buf, buf.count)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}
