import NimbusTestSupport
import NimbusWire

/// The traffic of `Topologies/load-balancer.yaml`: clients from the internet through the public VIP
/// (round-robin, weighted), DNS through the source-hash listener, an instance through the internal VIP
/// and through the public one (hairpin), and health events draining and downing targets.
enum LoadBalancerScenario {
    static let routerMAC = MACAddress("02:00:00:00:00:01")!
    static let upstreamMAC = MACAddress("02:00:00:00:ff:fe")!
    static let web1MAC = MACAddress("02:00:0a:00:01:0a")!
    static let web3MAC = MACAddress("02:00:0a:00:01:0c")!
    static let app1MAC = MACAddress("02:00:0a:00:02:0a")!
    static let vip = IPv4Address("203.0.113.80")!
    static let internalVIP = IPv4Address("10.0.1.200")!
    static let web1 = IPv4Address("10.0.1.10")!
    static let web2 = IPv4Address("10.0.1.11")!
    static let web3 = IPv4Address("10.0.1.12")!
    static let app1 = IPv4Address("10.0.2.10")!
    static func client(_ n: UInt8) -> IPv4Address { IPv4Address(198, 51, 100, n) }
    static let t0: UInt64 = 1_700_000_300_000_000_000
    static let ms: UInt64 = 1_000_000

    static func tcp(_ smac: MACAddress, _ s: IPv4Address, _ sp: UInt16, _ d: IPv4Address, _ dp: UInt16, _ flags: UInt8,
                    seq: UInt32 = 0, ack: UInt32 = 0, payload: [UInt8] = []) -> [UInt8] {
        FrameBuilder.tcpFrame(sourceMAC: smac, destinationMAC: routerMAC, source: s, destination: d, sourcePort: sp,
                              destinationPort: dp, flags: flags, sequence: seq, acknowledgment: ack, payload: payload)
    }
    static let syn = TCPHeader.syn, ack = TCPHeader.ack, psh = TCPHeader.psh

    /// Sent into the internet port.
    static var internet: [(UInt64, [UInt8])] {
        let u = upstreamMAC
        let dns = { (c: UInt8, sp: UInt16) in
            FrameBuilder.udpFrame(sourceMAC: u, destinationMAC: routerMAC, source: client(c), destination: vip,
                                  sourcePort: sp, destinationPort: 53, payload: PublicIPScenario.dnsMessage(response: false))
        }
        return [
            // Four new flows: weights 1:1:2 give web-3, web-1, web-2, web-3.
            (0, tcp(u, client(11), 40001, vip, 80, syn, seq: 1)),
            (100, tcp(u, client(12), 40002, vip, 80, syn, seq: 1)),
            (200, tcp(u, client(13), 40003, vip, 80, syn, seq: 1)),
            (300, tcp(u, client(14), 40004, vip, 80, syn, seq: 1)),
            // The first client's next segment stays on its target, though round-robin moved on.
            (400, tcp(u, client(11), 40001, vip, 80, ack | psh, seq: 2, ack: 101, payload: Array("GET /".utf8))),
            // DNS through the source-hash listener: one client, two source ports, one target.
            (500, dns(21, 5001)),
            (600, dns(21, 5002)),
            (700, tcp(u, client(11), 40001, IPv4Address("203.0.113.80")!, 443, syn)),   // no listener on 443: no-route
            // At 2 s web-2 drains: a new flow never goes to it; its existing flow (client 13) continues.
            (2_500, tcp(u, client(15), 40005, vip, 80, syn, seq: 1)),
            (2_600, tcp(u, client(13), 40003, vip, 80, ack, seq: 2, ack: 1)),
            // At 3 s web-1 goes down: its flow (client 12) is cut; the client's new flow finds web-3.
            (3_500, tcp(u, client(12), 40002, vip, 80, ack, seq: 2, ack: 1)),
            (3_600, tcp(u, client(12), 40012, vip, 80, syn, seq: 1)),
            // At 4 s web-3 goes down too: nothing is up (web-2 only drains).
            (4_500, tcp(u, client(16), 40006, vip, 80, syn, seq: 1)),
        ].map { (t0 + $0.0 * ms, $0.1) }
    }

    /// web-3's answer to the first client, and web-1's to the second.
    static var web3Port: [(UInt64, [UInt8])] {
        [(50, tcp(web3MAC, web3, 8080, client(11), 40001, syn | ack, seq: 100, ack: 2))].map { (t0 + $0.0 * ms, $0.1) }
    }
    static var web1Port: [(UInt64, [UInt8])] {
        [(150, tcp(web1MAC, web1, 8080, client(12), 40002, syn | ack, seq: 100, ack: 2)),
         (1_050, tcp(web1MAC, web1, 8080, app1, 41000, syn | ack, seq: 300, ack: 2))].map { (t0 + $0.0 * ms, $0.1) }
    }

    /// app-1 uses the internal VIP, then the public one (hairpin).
    static var app1Port: [(UInt64, [UInt8])] {
        [(1_000, tcp(app1MAC, app1, 41000, internalVIP, 80, syn, seq: 1)),
         (1_100, tcp(app1MAC, app1, 41001, vip, 80, syn, seq: 1))].map { (t0 + $0.0 * ms, $0.1) }
    }
}
