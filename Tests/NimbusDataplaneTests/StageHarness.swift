import NimbusDataplane
import NimbusWire

/// Runs a dataplane over handmade frames and hands back what came out, as swift-nio's EmbeddedChannel
/// runs handlers with no I/O.
struct StageHarness: ~Copyable {
    var dataplane: Dataplane

    init(_ config: DataplaneConfig = Fixture.config, seed: UInt64 = 1) {
        dataplane = Dataplane(config: config, seed: seed)
    }

    struct Out {
        var verdict: Verdict
        var port: UInt16
        var drop: DropReason
        var bytes: [UInt8]
        /// The generated answer (ICMP error), when there is one.
        var child: (port: UInt16, bytes: [UInt8])?
    }

    /// Sends frames in (port, bytes) order as one batch, 1 µs apart.
    mutating func run(_ frames: [(UInt16, [UInt8])], trace: Int = 0) -> [Out] {
        runBatch(frames.enumerated().map { (UInt64($0.offset) * 1000, $0.element.0, $0.element.1) }, trace: trace)
    }

    /// Sends frames at the given capture times (ns), each in a batch of its own, as a replay of sparse
    /// traffic would, so timers run between them.
    mutating func run(timed frames: [(UInt64, UInt16, [UInt8])]) -> [Out] {
        frames.flatMap { runBatch([$0], trace: 0) }
    }

    private mutating func runBatch(_ frames: [(UInt64, UInt16, [UInt8])], trace: Int) -> [Out] {
        var batch = PacketBatch(arenaSize: 1 << 20)
        for (t, port, f) in frames {
            _ = f.withUnsafeBytes { batch.append($0, timestamp: t, port: port) }
        }
        dataplane.context.trace.limit = trace
        dataplane.process(&batch)
        var out: [Out] = []
        for i in 0..<batch.inputCount {
            let m = batch.meta[i]
            var child: (UInt16, [UInt8])? = nil
            if m.child != PacketMeta.noChild {
                let c = Int(m.child)
                child = (batch.meta[c].outPort, batch.bytes(c).array)
            }
            out.append(Out(verdict: m.verdict, port: m.outPort, drop: m.drop, bytes: batch.bytes(i).array, child: child))
        }
        return out
    }

    mutating func one(_ port: UInt16, _ frame: [UInt8]) -> Out { run([(port, frame)])[0] }
}

/// A small site: one public-ip network with two subnets, one nat-private network.
enum Fixture {
    static let routerMAC = MACAddress("02:00:00:00:00:01")!
    static let upstreamMAC = MACAddress("02:00:00:00:ff:fe")!
    static let web1MAC = MACAddress("02:00:cb:00:71:0a")!
    static let web2MAC = MACAddress("02:00:cb:00:71:0b")!
    static let db1MAC = MACAddress("02:00:cb:00:71:46")!
    static let appMAC = MACAddress("02:00:0a:00:01:0a")!
    static let web1 = IPv4Address("203.0.113.10")!
    static let web2 = IPv4Address("203.0.113.11")!
    static let db1 = IPv4Address("203.0.113.70")!
    static let app = IPv4Address("10.0.1.10")!
    static let client = IPv4Address("198.51.100.20")!
    static let webGateway = IPv4Address("203.0.113.1")!
    static let dbGateway = IPv4Address("203.0.113.65")!

    // Ports: 0 internet, 1 web-1, 2 web-2, 3 db-1, 4 app-1 (private).
    static let config = DataplaneConfig(
        name: "test", routerMAC: routerMAC, upstreamMAC: upstreamMAC,
        networks: [
            .init(name: "public", cidr: IPv4CIDR("203.0.113.0/24")!, mode: .publicIP),
            .init(name: "vpc", cidr: IPv4CIDR("10.0.0.0/16")!, mode: .natPrivate),
        ],
        subnets: [
            .init(name: "web", network: 0, cidr: IPv4CIDR("203.0.113.0/26")!),
            .init(name: "db", network: 0, cidr: IPv4CIDR("203.0.113.64/26")!),
            .init(name: "app", network: 1, cidr: IPv4CIDR("10.0.1.0/24")!),
        ],
        instances: [
            .init(name: "web-1", peerMAC: web1MAC, ip: web1, subnet: 0, network: 0),
            .init(name: "web-2", peerMAC: web2MAC, ip: web2, subnet: 0, network: 0),
            .init(name: "db-1", peerMAC: db1MAC, ip: db1, subnet: 1, network: 0),
            .init(name: "app-1", peerMAC: appMAC, ip: app, subnet: 2, network: 1),
        ])
}

/// Field access on output frames for assertions.
extension Array where Element == UInt8 {
    func u16(_ o: Int) -> UInt16 { UInt16(self[o]) << 8 | UInt16(self[o + 1]) }
    func u32(_ o: Int) -> UInt32 { UInt32(u16(o)) << 16 | UInt32(u16(o + 2)) }
    func mac(_ o: Int) -> MACAddress { MACAddress(value: UInt64(u16(o)) << 32 | UInt64(u32(o + 2))) }
    func ip(_ o: Int) -> IPv4Address { IPv4Address(value: u32(o)) }

    /// True when the IPv4 header at `o` has a valid checksum.
    func ipv4ChecksumValid(at o: Int = 14) -> Bool {
        var copy = self
        return copy.withUnsafeMutableBytes { b in
            let r = RawBytes(b).suffix(from: o)
            return InternetChecksum.verify(r.prefix(Int(r.u8(0) & 0x0F) * 4))
        }
    }

    /// True when the L4 checksum (TCP/UDP over the pseudo-header, or ICMP) of the IPv4 packet at `o` is valid.
    func l4ChecksumValid(at o: Int = 14) -> Bool {
        var copy = self
        return copy.withUnsafeMutableBytes { b in
            guard let ip = try? IPv4Header(RawBytes(b).suffix(from: o)) else { return false }
            switch ip.protocol {
            case IPProtocol.tcp: return (try? TCPHeader(ip.payload))?.isChecksumValid(source: ip.source, destination: ip.destination) ?? false
            case IPProtocol.udp: return (try? UDPHeader(ip.payload))?.isChecksumValid(source: ip.source, destination: ip.destination) ?? false
            case IPProtocol.icmp: return InternetChecksum.verify(ip.payload)
            default: return true
            }
        }
    }
}
