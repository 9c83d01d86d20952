import NimbusTestSupport
import NimbusWire

/// The traffic of the two-site VPN example (Topologies/vpn-site-to-site.yaml and vpn-office.yaml): app-1
/// in the cloud pings the office laptop, opens an SSH connection to it and sends it data, all through
/// the WireGuard tunnel; one ping goes to the internet through the cloud's NAT; one datagram is larger
/// than the tunnel's MTU. The committed example captures are exactly these frames.
enum VPNScenario {
    static let cloudRouterMAC = MACAddress("02:00:00:00:0a:01")!
    static let officeRouterMAC = MACAddress("02:00:00:00:14:01")!
    static let app1MAC = MACAddress("02:00:0a:0a:01:0a")!
    static let laptopMAC = MACAddress("02:00:0a:14:01:0a")!
    static let app1 = IPv4Address("10.10.1.10")!
    static let laptop = IPv4Address("10.20.1.10")!
    static let cloudEndpoint = IPv4Address("203.0.113.3")!
    static let officeEndpoint = IPv4Address("198.51.100.2")!
    static let t0: UInt64 = 1_700_000_000_000_000_000
    static let ms: UInt64 = 1_000_000
    /// Inner bytes that must never cross the internet in clear.
    static let secret = Array("TOP-SECRET-PAYLOAD over the tunnel".utf8)

    /// What app-1 sends (cloud/app-1).
    static var cloudApp1: [(UInt64, [UInt8])] {
        [
            // 1. A ping to the laptop: no session yet, so it is held and a handshake starts.
            (t0 + 1000 * ms, FrameBuilder.echoFrame(sourceMAC: app1MAC, destinationMAC: cloudRouterMAC, source: app1,
                                                    destination: laptop, identifier: 7, sequence: 1)),
            // 2-4. SSH to the laptop: handshake and data; the data must not cross the internet in clear.
            (t0 + 1500 * ms, FrameBuilder.tcpFrame(sourceMAC: app1MAC, destinationMAC: cloudRouterMAC, source: app1,
                                                   destination: laptop, sourcePort: 40000, destinationPort: 22,
                                                   flags: TCPHeader.syn, sequence: 100, identification: 1)),
            (t0 + 1502 * ms, FrameBuilder.tcpFrame(sourceMAC: app1MAC, destinationMAC: cloudRouterMAC, source: app1,
                                                   destination: laptop, sourcePort: 40000, destinationPort: 22,
                                                   flags: TCPHeader.ack, sequence: 101, acknowledgment: 901,
                                                   identification: 2)),
            (t0 + 1503 * ms, FrameBuilder.tcpFrame(sourceMAC: app1MAC, destinationMAC: cloudRouterMAC, source: app1,
                                                   destination: laptop, sourcePort: 40000, destinationPort: 22,
                                                   flags: TCPHeader.ack | TCPHeader.psh, sequence: 101,
                                                   acknowledgment: 901, identification: 3, payload: secret)),
            // 5. The second ping finds the session up: sealed at once.
            (t0 + 2000 * ms, FrameBuilder.echoFrame(sourceMAC: app1MAC, destinationMAC: cloudRouterMAC, source: app1,
                                                    destination: laptop, identifier: 7, sequence: 2)),
            // 6. A ping to the internet: not the tunnel's, so it leaves through the NAT gateway as usual.
            (t0 + 3000 * ms, FrameBuilder.echoFrame(sourceMAC: app1MAC, destinationMAC: cloudRouterMAC, source: app1,
                                                    destination: IPv4Address("192.0.2.53")!, identifier: 8, sequence: 1)),
            // 7. 1,500 bytes of UDP, more than the tunnel's 1420-byte MTU, don't-fragment set (as path MTU
            //    discovery sends): refused, ICMP fragmentation needed (MTU 1420) back to app-1.
            (t0 + 4000 * ms, bigDatagram(dontFragment: true, identification: 4)),
            // 8. The same without don't-fragment: split into two fragments, each sealed on its own.
            (t0 + 4100 * ms, bigDatagram(dontFragment: false, identification: 5)),
        ]
    }

    static func bigDatagram(dontFragment: Bool, identification: UInt16) -> [UInt8] {
        let udp = FrameBuilder.udp(source: app1, destination: laptop, sourcePort: 5000, destinationPort: 5000,
                                   payload: [UInt8](repeating: 0x5A, count: 1472))
        let ip = FrameBuilder.ipv4(source: app1, destination: laptop, protocol: IPProtocol.udp,
                                   identification: identification, dontFragment: dontFragment, payload: udp)
        return FrameBuilder.ethernet(source: app1MAC, destination: cloudRouterMAC, etherType: EtherType.ipv4, payload: ip)
    }

    /// What the laptop answers (office/laptop), a millisecond after each request reached it.
    static var officeLaptop: [(UInt64, [UInt8])] {
        [
            (t0 + 1001 * ms, FrameBuilder.echoFrame(sourceMAC: laptopMAC, destinationMAC: officeRouterMAC, source: laptop,
                                                    destination: app1, reply: true, identifier: 7, sequence: 1)),
            (t0 + 1501 * ms, FrameBuilder.tcpFrame(sourceMAC: laptopMAC, destinationMAC: officeRouterMAC, source: laptop,
                                                   destination: app1, sourcePort: 22, destinationPort: 40000,
                                                   flags: TCPHeader.syn | TCPHeader.ack, sequence: 900, acknowledgment: 101,
                                                   identification: 1)),
            (t0 + 2001 * ms, FrameBuilder.echoFrame(sourceMAC: laptopMAC, destinationMAC: officeRouterMAC, source: laptop,
                                                    destination: app1, reply: true, identifier: 7, sequence: 2)),
        ]
    }
}
