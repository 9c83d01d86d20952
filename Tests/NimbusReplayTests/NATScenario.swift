import NimbusDataplane
import NimbusTestSupport
import NimbusWire

/// The traffic of `Topologies/nat-private.yaml`: private instances reaching the internet through the NAT
/// gateway, answers coming back, unsolicited traffic refused, an ICMP error translated back, hairpinning
/// to an elastic IP, fragments, and a mapping that expires.
enum NATScenario {
    static let routerMAC = MACAddress("02:00:00:00:00:01")!
    static let upstreamMAC = MACAddress("02:00:00:00:ff:fe")!
    static let app1MAC = MACAddress("02:00:0a:00:01:0a")!
    static let app2MAC = MACAddress("02:00:0a:00:01:0b")!
    static let web1MAC = MACAddress("02:00:0a:00:01:14")!
    static let app1 = IPv4Address("10.0.1.10")!
    static let app2 = IPv4Address("10.0.1.11")!
    static let web1 = IPv4Address("10.0.1.20")!
    static let web1Public = IPv4Address("203.0.113.10")!
    static let pool = [IPv4Address("203.0.113.1")!, IPv4Address("203.0.113.2")!]
    static let example = IPv4Address("198.51.100.20")!
    static let resolver = IPv4Address("198.51.100.53")!
    static let resolver2 = IPv4Address("198.51.100.54")!
    static let stranger = IPv4Address("198.51.100.99")!
    /// The public address the gateway pairs app-1 with (seed 0).
    static let app1Public = NATStage.pairedAddress(for: app1, pool: pool, seed: 0)
    static let t0: UInt64 = 1_700_000_200_000_000_000
    static let ms: UInt64 = 1_000_000

    static func tcp(_ smac: MACAddress, _ s: IPv4Address, _ sp: UInt16, _ d: IPv4Address, _ dp: UInt16, _ flags: UInt8,
                    seq: UInt32 = 0, ack: UInt32 = 0, id: UInt16 = 0) -> [UInt8] {
        FrameBuilder.tcpFrame(sourceMAC: smac, destinationMAC: routerMAC, source: s, destination: d, sourcePort: sp,
                              destinationPort: dp, flags: flags, sequence: seq, acknowledgment: ack, identification: id)
    }
    static func udp(_ smac: MACAddress, _ s: IPv4Address, _ sp: UInt16, _ d: IPv4Address, _ dp: UInt16, id: UInt16 = 0,
                    payload: [UInt8] = PublicIPScenario.dnsMessage(response: false)) -> [UInt8] {
        FrameBuilder.udpFrame(sourceMAC: smac, destinationMAC: routerMAC, source: s, destination: d, sourcePort: sp,
                              destinationPort: dp, identification: id, payload: payload)
    }
    static let syn = TCPHeader.syn, ack = TCPHeader.ack

    /// A UDP datagram from app-2 in two IPv4 fragments (offsets 0 and 24).
    static var fragments: [[UInt8]] {
        let d = FrameBuilder.udp(source: app2, destination: resolver, sourcePort: 6000, destinationPort: 9999,
                                 payload: Array(repeating: 0x42, count: 40))
        return [(0, true, Array(d[0..<24])), (24, false, Array(d[24...]))].map { offset, more, part in
            var ip = FrameBuilder.ipv4(source: app2, destination: resolver, protocol: IPProtocol.udp, identification: 0x5151,
                                       dontFragment: false, payload: part)
            ip.withUnsafeMutableBytes { b in
                let r = RawBytes(b)
                r.setU16(6, (more ? 0x2000 : 0) | UInt16(offset / 8))
                IPv4Header(unchecked: r).updateChecksum()
            }
            return FrameBuilder.ethernet(source: app2MAC, destination: routerMAC, etherType: EtherType.ipv4, payload: ip)
        }
    }

    /// Sent by app-1.
    static var app1Port: [(UInt64, [UInt8])] {
        let a = app1MAC
        return [
            (0, FrameBuilder.arpRequest(sourceMAC: a, senderIP: app1, targetIP: IPv4Address("10.0.1.1")!)),
            (10, tcp(a, app1, 40000, example, 443, syn, seq: 1, id: 1)),                 // -> app1Public:40000
            (20, udp(a, app1, 5000, resolver, 53, id: 2)),                                // -> app1Public:5000
            (30, udp(a, app1, 5000, resolver2, 53, id: 3)),                               // the same mapping (EIM)
            (40, FrameBuilder.echoFrame(sourceMAC: a, destinationMAC: routerMAC, source: app1, destination: example,
                                        identifier: 0x77, sequence: 1)),                  // identifier mapped like a port
            (50, tcp(a, app1, 41000, web1Public, 80, syn, seq: 9, id: 4)),                // hairpin to web-1's elastic IP
            (70, tcp(a, app1, 40000, example, 443, ack, seq: 2, ack: 101, id: 5)),
        ].map { (t0 + $0.0 * ms, $0.1) }
    }

    /// Sent by app-2: the same source port as app-1, then a fragmented datagram.
    static var app2Port: [(UInt64, [UInt8])] {
        [(15, tcp(app2MAC, app2, 40000, example, 443, syn, seq: 1, id: 1))].map { (t0 + $0.0 * ms, $0.1) }
            + zip([80, 81], fragments).map { (t0 + UInt64($0.0) * ms, $0.1) }
    }

    /// Sent by web-1 (elastic IP 203.0.113.10).
    static var web1Port: [(UInt64, [UInt8])] {
        let w = web1MAC
        return [
            (55, tcp(w, web1, 80, app1Public, 41000, syn | ack, seq: 500, ack: 10, id: 1)),   // hairpin reply
            (95, tcp(w, web1, 80, example, 51000, syn | ack, seq: 700, ack: 2, id: 2)),       // reply via the elastic IP
        ].map { (t0 + $0.0 * ms, $0.1) }
    }

    /// Sent into the internet port.
    static var internet: [(UInt64, [UInt8])] {
        let u = upstreamMAC
        // The datagram app-1 sent to resolver2, as it left (translated), quoted in the port unreachable.
        let quoted = Array(FrameBuilder.ipv4(source: app1Public, destination: resolver2, protocol: IPProtocol.udp,
                                             identification: 3,
                                             payload: FrameBuilder.udp(source: app1Public, destination: resolver2,
                                                                       sourcePort: 5000, destinationPort: 53,
                                                                       payload: PublicIPScenario.dnsMessage(response: false)))[0..<28])
        return [
            (12, tcp(u, example, 443, app1Public, 40000, syn | ack, seq: 100, ack: 2, id: 1)),   // answer: to app-1
            (22, udp(u, resolver, 53, app1Public, 5000, id: 2, payload: PublicIPScenario.dnsMessage(response: true))),
            (32, FrameBuilder.ethernet(source: u, destination: routerMAC, etherType: EtherType.ipv4,
                                       payload: FrameBuilder.ipv4(source: resolver2, destination: app1Public,
                                                                  protocol: IPProtocol.icmp, identification: 3,
                                                                  payload: FrameBuilder.icmp(type: 3, code: 3, payload: quoted)))),
            (42, FrameBuilder.echoFrame(sourceMAC: u, destinationMAC: routerMAC, source: example, destination: app1Public,
                                        reply: true, identifier: 0x77, sequence: 1)),
            (60, udp(u, stranger, 53, app1Public, 5000, id: 4, payload: PublicIPScenario.dnsMessage(response: true))),  // nat-filtered
            (61, udp(u, example, 53, app1Public, 6001, id: 5, payload: PublicIPScenario.dnsMessage(response: true))),   // nat-no-mapping
            (90, tcp(u, example, 51000, web1Public, 80, syn, seq: 1, id: 6)),   // to the elastic IP: web admits 80
            (91, tcp(u, example, 51001, web1Public, 22, syn, id: 7)),           // sg-ingress-denied
            // Six minutes later the UDP mapping (300 s) has expired: the same answer finds nothing.
            (360_000, udp(u, resolver, 53, app1Public, 5000, id: 8, payload: PublicIPScenario.dnsMessage(response: true))),
        ].map { (t0 + $0.0 * ms, $0.1) }
    }
}
