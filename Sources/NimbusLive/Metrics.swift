// Prometheus metrics for `nimbus up --metrics HOST:PORT`: the counters of the status line (packets and
// bytes per port and direction, drops by reason), plus tracked flows, NAT mappings and WireGuard
// handshakes, in the Prometheus text format at http://HOST:PORT/metrics.
//
// The dataplane's loop owns its counters and never shares them; once a second it hands a copy to
// `LiveMetrics.update`, which moves the registry's counters forward by the difference. A thread of its
// own answers HTTP from the registry (swift-prometheus is thread-safe), so a slow scraper never stalls
// the packet loop.
import NimbusDataplane
import Prometheus
#if canImport(Glibc)
import Glibc
#endif

/// The registry of `nimbus up`'s metrics and the last values it was given.
public final class LiveMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let portPackets: [(in: Counter, out: Counter)]
    let portBytes: [(in: Counter, out: Counter)]
    let drops: [Counter]
    let consumed: Counter
    let flows: Gauge
    let natMappings: Gauge
    let handshakes: [Counter]
    let sessions: [Gauge]
    private let last = LockedCounters()

    public init(config: DataplaneConfig) {
        let site = ("site", config.name)
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        // nimbus_<name>[_<unit>]: the descriptor joins the parts with underscores, leaving out empty ones.
        func name(_ metric: String, unit: String = "", help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "nimbus", metricName: metric, unitName: unit, helpText: help)
        }
        let packets = name("port_packets", unit: "total", help: "Packets received (in) or sent (out) on a dataplane port")
        portPackets = config.ports.map { p in
            (registry.makeCounter(descriptor: packets, labels: [site, ("port", p.name), ("direction", "in")]),
             registry.makeCounter(descriptor: packets, labels: [site, ("port", p.name), ("direction", "out")]))
        }
        let bytes = name("port_bytes", unit: "total", help: "Bytes received (in) or sent (out) on a dataplane port")
        portBytes = config.ports.map { p in
            (registry.makeCounter(descriptor: bytes, labels: [site, ("port", p.name), ("direction", "in")]),
             registry.makeCounter(descriptor: bytes, labels: [site, ("port", p.name), ("direction", "out")]))
        }
        let dropped = name("drops", unit: "total", help: "Packets dropped, by reason (see nimbus drop-reasons)")
        drops = DropReason.allCases.map { r in
            registry.makeCounter(descriptor: dropped, labels: [site, ("reason", r.name)])
        }
        consumed = registry.makeCounter(
            descriptor: name("consumed_packets", unit: "total",
                             help: "Packets the dataplane took itself (WireGuard handshakes, keepalives, held packets)"),
            labels: [site])
        flows = registry.makeGauge(descriptor: name("flows", help: "Flows tracked now"), labels: [site])
        natMappings = registry.makeGauge(descriptor: name("nat_mappings", help: "NAT mappings alive now"), labels: [site])
        let completed = name("vpn_handshakes", unit: "total", help: "WireGuard handshakes completed (as initiator or responder)")
        handshakes = config.vpnTunnels.map { t in
            registry.makeCounter(descriptor: completed, labels: [site, ("tunnel", t.name)])
        }
        let up = name("vpn_peers_with_session", help: "Peers of the tunnel with a session up")
        sessions = config.vpnTunnels.map { t in
            registry.makeGauge(descriptor: up, labels: [site, ("tunnel", t.name)])
        }
    }

    /// Moves the metrics to the dataplane's current figures.
    public func update(_ c: Counters, flows live: Int, natMappings nat: Int,
                       vpn: [(handshakes: Int, sessions: Int)]) {
        last.withLock { prev in
            for (i, p) in c.ports.enumerated() where i < portPackets.count {
                let q = i < prev.counters.ports.count ? prev.counters.ports[i] : PortCounters()
                portPackets[i].in.increment(by: Double(p.inPackets &- q.inPackets))
                portPackets[i].out.increment(by: Double(p.outPackets &- q.outPackets))
                portBytes[i].in.increment(by: Double(p.inBytes &- q.inBytes))
                portBytes[i].out.increment(by: Double(p.outBytes &- q.outBytes))
            }
            for r in DropReason.allCases {
                let d = c.drops(r) &- prev.counters.drops(r)
                if d > 0 { drops[Int(r.rawValue)].increment(by: Double(d)) }
            }
            consumed.increment(by: Double(c.packetsConsumed &- prev.counters.packetsConsumed))
            for (t, v) in vpn.enumerated() where t < handshakes.count {
                let before = t < prev.handshakes.count ? prev.handshakes[t] : 0
                handshakes[t].increment(by: Double(v.handshakes - before))
                sessions[t].set(Double(v.sessions))
            }
            prev.counters = c
            prev.handshakes = vpn.map(\.handshakes)
        }
        flows.set(Double(live))
        natMappings.set(Double(nat))
    }

    /// The metrics in the Prometheus text format.
    public func text() -> String { registry.emitToString() }
}

/// The figures `update` last saw, behind a lock (the HTTP thread never touches them, but `Sendable`
/// wants the class free of unguarded state).
final class LockedCounters: @unchecked Sendable {
    struct Values {
        var counters = Counters(portCount: 0)
        var handshakes: [Int] = []
    }
    private var values = Values()
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<R>(_ body: (inout Values) -> R) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body(&values)
    }
}

/// A minimal HTTP/1.0 server for one path, `/metrics`, on its own thread.
public final class MetricsServer: @unchecked Sendable {
    let fd: Int32
    let metrics: LiveMetrics
    private var thread = pthread_t()

    /// Binds `host:port` (IPv4) and starts answering. Throws when the address cannot be bound.
    public init(host: String, port: UInt16, metrics: LiveMetrics) throws(LiveError) {
        self.metrics = metrics
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LiveError("--metrics: socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            close(fd)
            throw LiveError("--metrics \(host):\(port): not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw LiveError("--metrics \(host):\(port): \(e)")
        }
        let unmanaged = Unmanaged.passRetained(self)
        pthread_create(&thread, nil, { arg in
            let server = Unmanaged<MetricsServer>.fromOpaque(arg!).takeRetainedValue()
            server.serve()
            return nil
        }, unmanaged.toOpaque())
        pthread_detach(thread)
    }

    func serve() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            answer(client)
            close(client)
        }
    }

    /// Reads the request line and answers it: the metrics for `GET /metrics`, 404 otherwise.
    func answer(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8](repeating: 0, count: 4096)
        var got = 0
        while got < request.count {
            let n = request.withUnsafeMutableBytes { recv(client, $0.baseAddress! + got, $0.count - got, 0) }
            if n <= 0 { break }
            got += n
            if request[0..<got].contains(10) { break }
        }
        let line = String(decoding: request[0..<got].prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let path = parts.count >= 2 ? parts[1] : ""
        let ok = parts.first == "GET" && (path == "/metrics" || path.hasPrefix("/metrics?"))
        let body = ok ? metrics.text() : "not found: try /metrics\n"
        let head = ok ? "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            : "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
        let response = Array((head + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body).utf8)
        var sent = 0
        while sent < response.count {
            let n = response.withUnsafeBytes { send(client, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }
}
