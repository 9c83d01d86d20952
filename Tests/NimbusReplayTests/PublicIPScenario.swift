import NimbusTestSupport
import NimbusWire

/// The traffic of the `Topologies/public-ip.yaml` example: what the internet and web-1 send, covering
/// every behaviour of a public-IP network — routing both ways, TTL, ARP, ping to the gateway, the drops.
/// The committed example captures are exactly these frames (see ExampleCaptureTests).
enum PublicIPScenario {
    static let routerMAC = MACAddress("02:00:00:00:00:01")!
    static let upstreamMAC = MACAddress("02:00:00:00:ff:fe")!
    static let web1MAC = MACAddress("02:00:cb:00:71:0a")!
    static let web2MAC = MACAddress("02:00:cb:00:71:0b")!
    static let db1MAC = MACAddress("02:00:00:00:46:01")!
    static let web1 = IPv4Address("203.0.113.10")!
    static let web2 = IPv4Address("203.0.113.11")!
    static let db1 = IPv4Address("203.0.113.70")!
    static let client = IPv4Address("198.51.100.20")!
    static let upstreamIP = IPv4Address("198.51.100.1")!
    static let webGateway = IPv4Address("203.0.113.1")!
    static let dbGateway = IPv4Address("203.0.113.65")!
    static let t0: UInt64 = 1_700_000_000_000_000_000

    /// Frames sent into the `internet` port, 100 ms apart.
    static var internet: [(UInt64, [UInt8])] {
        let frames: [[UInt8]] = [
            // 1. The upstream router resolves web-1: answered with the router MAC.
            FrameBuilder.arpRequest(sourceMAC: upstreamMAC, senderIP: upstreamIP, targetIP: web1),
            // 2. A client opens a connection to web-1: routed, TTL 64 -> 63.
            FrameBuilder.tcpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client, destination: web1,
                                  sourcePort: 40000, destinationPort: 80, flags: TCPHeader.syn, sequence: 1000,
                                  identification: 1),
            // 3. The client pings db-1.
            FrameBuilder.echoFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client, destination: db1,
                                   identifier: 77, sequence: 1),
            // 4. TTL 1 towards web-2: dropped, ICMP time exceeded back to the client.
            FrameBuilder.udpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client, destination: web2,
                                  sourcePort: 33434, destinationPort: 33435, ttl: 1, identification: 2,
                                  payload: Array("traceroute probe".utf8)),
            // 5. Spoofed: the internet claims to be web-2.
            FrameBuilder.tcpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: web2, destination: web1,
                                  sourcePort: 1234, destinationPort: 22, flags: TCPHeader.syn),
            // 6. An address of the range that no instance has.
            FrameBuilder.udpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client,
                                  destination: IPv4Address("203.0.113.50")!, sourcePort: 5000, destinationPort: 53),
            // 7. Ping to db's gateway: answered by the dataplane.
            FrameBuilder.echoFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client,
                                   destination: dbGateway, identifier: 78, sequence: 1),
            // 8. SSH to the router itself: refused.
            FrameBuilder.tcpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client,
                                  destination: webGateway, sourcePort: 40001, destinationPort: 22, flags: TCPHeader.syn),
            // 9. VLAN-tagged HTTPS to web-2: leaves untagged.
            FrameBuilder.tcpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client, destination: web2,
                                  sourcePort: 40002, destinationPort: 443, flags: TCPHeader.syn, sequence: 5000,
                                  identification: 3, vlan: 100),
            // 10. A corrupted IPv4 header checksum.
            corrupted(FrameBuilder.udpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client,
                                            destination: web1, sourcePort: 5001, destinationPort: 53)),
            // 11. The client's ACK with data to web-1.
            FrameBuilder.tcpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client, destination: web1,
                                  sourcePort: 40000, destinationPort: 80, flags: TCPHeader.ack | TCPHeader.psh,
                                  sequence: 1001, acknowledgment: 9001, identification: 4,
                                  payload: Array("GET / HTTP/1.1\r\nHost: web-1\r\n\r\n".utf8)),
            // 12. The database is closed to the internet: no rule of `db` admits it.
            FrameBuilder.tcpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client, destination: db1,
                                  sourcePort: 40003, destinationPort: 5432, flags: TCPHeader.syn, identification: 5),
            // 13. A stray ACK to web-1's open port, belonging to no connection: ct-invalid.
            FrameBuilder.tcpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client, destination: web1,
                                  sourcePort: 40004, destinationPort: 80, flags: TCPHeader.ack, sequence: 77,
                                  acknowledgment: 88, identification: 6),
            // 14. The answer to web-1's DNS query: no ingress rule admits UDP 53, the tracked flow does.
            FrameBuilder.udpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client, destination: web1,
                                  sourcePort: 53, destinationPort: 5300, identification: 7,
                                  payload: dnsMessage(response: true)),
        ]
        return frames.enumerated().map { (t0 + UInt64($0.offset) * 100_000_000, $0.element) }
    }

    /// Frames sent into web-1's port, interleaved 50 ms after the internet's.
    static var web1Port: [(UInt64, [UInt8])] {
        let frames: [[UInt8]] = [
            // 1. web-1 resolves its gateway.
            FrameBuilder.arpRequest(sourceMAC: web1MAC, senderIP: web1, targetIP: webGateway),
            // 2. SYN-ACK back to the client: to the internet via the upstream MAC, TTL 63.
            FrameBuilder.tcpFrame(sourceMAC: web1MAC, destinationMAC: routerMAC, source: web1, destination: client,
                                  sourcePort: 80, destinationPort: 40000, flags: TCPHeader.syn | TCPHeader.ack,
                                  sequence: 9000, acknowledgment: 1001, identification: 100),
            // 3. Same subnet (web-2): delivered with the TTL unchanged.
            FrameBuilder.udpFrame(sourceMAC: web1MAC, destinationMAC: routerMAC, source: web1, destination: web2,
                                  sourcePort: 7000, destinationPort: 7001, identification: 101, payload: Array("hello web-2".utf8)),
            // 4. Other subnet (db-1): TTL 63.
            FrameBuilder.tcpFrame(sourceMAC: web1MAC, destinationMAC: routerMAC, source: web1, destination: db1,
                                  sourcePort: 50000, destinationPort: 5432, flags: TCPHeader.syn, sequence: 1,
                                  identification: 102),
            // 5. Spoofed source IP.
            FrameBuilder.udpFrame(sourceMAC: web1MAC, destinationMAC: routerMAC, source: IPv4Address("203.0.113.99")!,
                                  destination: client, sourcePort: 1, destinationPort: 2),
            // 6. Spoofed source MAC.
            FrameBuilder.udpFrame(sourceMAC: MACAddress("02:de:ad:be:ef:01")!, destinationMAC: routerMAC, source: web1,
                                  destination: client, sourcePort: 1, destinationPort: 2),
            // 7. ARP claiming web-2's address.
            FrameBuilder.arpRequest(sourceMAC: web1MAC, senderIP: web2, targetIP: webGateway),
            // 8. Duplicate-address probe for its own address: not answered.
            FrameBuilder.arpRequest(sourceMAC: web1MAC, senderIP: .any, targetIP: web1),
            // 9. Ping the gateway.
            FrameBuilder.echoFrame(sourceMAC: web1MAC, destinationMAC: routerMAC, source: web1, destination: webGateway,
                                   identifier: 9, sequence: 1),
            // 10. Broadcast (a DHCP discover): not routed.
            FrameBuilder.udpFrame(sourceMAC: web1MAC, destinationMAC: .broadcast, source: web1, destination: .broadcast,
                                  sourcePort: 68, destinationPort: 67),
            // 11. A DNS query to the client (egress is open): it opens the flow its answer comes back on.
            FrameBuilder.udpFrame(sourceMAC: web1MAC, destinationMAC: routerMAC, source: web1, destination: client,
                                  sourcePort: 5300, destinationPort: 53, identification: 103,
                                  payload: dnsMessage(response: false)),
        ]
        return frames.enumerated().map { (t0 + 50_000_000 + UInt64($0.offset) * 100_000_000, $0.element) }
    }

    /// A DNS query for example.com (A), or the matching response with no answer.
    static func dnsMessage(response: Bool) -> [UInt8] {
        [0x12, 0x34, response ? 0x81 : 0x01, response ? 0x80 : 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
            + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
    }

    static func corrupted(_ f: [UInt8]) -> [UInt8] {
        var f = f
        f[24] ^= 0x5A
        return f
    }
}
