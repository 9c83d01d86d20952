import NimbusTestSupport
import NimbusWire

/// The traffic of `Topologies/security-groups.yaml`: a web tier, an app tier only the web tier reaches,
/// SSH from the office. Each frame's comment says what the dataplane must do with it.
enum SecurityGroupsScenario {
    static let routerMAC = MACAddress("02:00:00:00:00:01")!
    static let upstreamMAC = MACAddress("02:00:00:00:ff:fe")!
    static let web1MAC = MACAddress("02:00:cb:00:71:0a")!
    static let app1MAC = MACAddress("02:00:cb:00:71:46")!
    static let web1 = IPv4Address("203.0.113.10")!
    static let web2 = IPv4Address("203.0.113.11")!
    static let app1 = IPv4Address("203.0.113.70")!
    static let client = IPv4Address("198.51.100.20")!
    static let office = IPv4Address("192.0.2.5")!
    static let mailServer = IPv4Address("198.51.100.99")!
    static let abuser = IPv4Address("198.51.100.66")!
    static let t0: UInt64 = 1_700_000_100_000_000_000
    static let ms: UInt64 = 1_000_000

    static func tcp(_ smac: MACAddress, _ s: IPv4Address, _ sp: UInt16, _ d: IPv4Address, _ dp: UInt16, _ flags: UInt8,
                    seq: UInt32 = 0, ack: UInt32 = 0, id: UInt16 = 0, payload: [UInt8] = []) -> [UInt8] {
        FrameBuilder.tcpFrame(sourceMAC: smac, destinationMAC: routerMAC, source: s, destination: d, sourcePort: sp,
                              destinationPort: dp, flags: flags, sequence: seq, acknowledgment: ack, identification: id,
                              payload: payload)
    }
    static let syn = TCPHeader.syn, ack = TCPHeader.ack, psh = TCPHeader.psh, fin = TCPHeader.fin

    /// (time offset in ms, frame) sent into the internet port.
    static var internet: [(UInt64, [UInt8])] {
        let u = upstreamMAC
        return [
            (0, tcp(u, client, 50000, web1, 443, syn, seq: 100, id: 1)),                 // allowed: web admits 443
            (20, tcp(u, client, 50000, web1, 443, ack, seq: 101, ack: 901, id: 2)),       // completes the handshake
            (30, tcp(u, client, 50000, web1, 443, ack | psh, seq: 101, ack: 901, id: 3,
                     payload: Array("hello".utf8))),
            (40, tcp(u, client, 50001, app1, 8080, syn, id: 4)),                          // sg-ingress-denied: app only from sg:web
            (50, tcp(u, office, 50002, app1, 22, syn, seq: 7, id: 5)),                    // allowed: admin, from the office
            (60, tcp(u, client, 50003, web2, 22, syn, id: 6)),                            // sg-ingress-denied: not the office
            (70, tcp(u, client, 50004, web1, 443, ack, seq: 5, ack: 5, id: 7)),           // ct-invalid: no such connection
            (80, FrameBuilder.echoFrame(sourceMAC: u, destinationMAC: routerMAC, source: office, destination: web2,
                                        identifier: 1, sequence: 1)),                     // allowed: admin ping
            (90, FrameBuilder.echoFrame(sourceMAC: u, destinationMAC: routerMAC, source: client, destination: web2,
                                        identifier: 2, sequence: 1)),                     // sg-ingress-denied
            (95, tcp(u, abuser, 50005, web1, 443, syn, id: 9)),                           // nacl-inbound-denied, though web admits 443
            (200, tcp(u, client, 50000, web1, 443, fin | ack, seq: 106, ack: 901, id: 8)), // closing
        ].map { (t0 + $0.0 * ms, $0.1) }
    }

    /// Sent by web-1.
    static var web1Port: [(UInt64, [UInt8])] {
        let w = web1MAC
        return [
            (10, tcp(w, web1, 443, client, 50000, syn | ack, seq: 900, ack: 101, id: 100)),   // reply: allowed
            (100, tcp(w, web1, 40000, app1, 8080, syn, seq: 1, id: 101)),                     // allowed: sg:app egress, sg:web ingress
            (120, tcp(w, web1, 40000, app1, 8080, ack, seq: 2, ack: 501, id: 102)),
            (130, tcp(w, web1, 40001, mailServer, 25, syn, id: 103)),                         // sg-egress-denied: only 443 and app
            (140, tcp(w, web1, 40002, app1, 9090, syn, id: 104)),                             // sg-egress-denied: 9090 is not opened
            (210, tcp(w, web1, 443, client, 50000, fin | ack, seq: 901, ack: 107, id: 105)),
        ].map { (t0 + $0.0 * ms, $0.1) }
    }

    /// Sent by app-1.
    static var app1Port: [(UInt64, [UInt8])] {
        let a = app1MAC
        return [
            (55, tcp(a, app1, 22, office, 50002, syn | ack, seq: 300, ack: 8, id: 200)),      // reply to the office SSH
            (110, tcp(a, app1, 8080, web1, 40000, syn | ack, seq: 500, ack: 2, id: 201)),     // reply to web-1
            (150, tcp(a, app1, 8080, web2, 40009, syn | ack, seq: 1, ack: 1, id: 202)),       // ct-invalid: web-2 never asked
            (160, tcp(a, app1, 41000, IPv4Address("198.51.100.53")!, 443, syn, id: 203)),     // allowed: app egress is open
        ].map { (t0 + $0.0 * ms, $0.1) }
    }
}
