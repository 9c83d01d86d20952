import NimbusWire

/// A one-line, tcpdump-like description of an Ethernet frame, for traces. Slow path only.
public func summarize(frame: RawBytes) -> String {
    guard let eth = try? EthernetFrame(frame) else { return "truncated frame (\(frame.count) bytes)" }
    let vlan = eth.vlanID.map { "vlan \($0), " } ?? ""
    let l2 = "\(eth.source) > \(eth.destination), \(vlan)"
    switch eth.etherType {
    case EtherType.arp:
        guard let arp = try? ARPPacket(eth.payload) else { return l2 + "ARP, malformed" }
        if arp.operation == ARPPacket.request {
            return l2 + "ARP request who-has \(arp.targetIP) tell \(arp.senderIP)"
        }
        if arp.operation == ARPPacket.reply {
            return l2 + "ARP reply \(arp.senderIP) is-at \(arp.senderMAC)"
        }
        return l2 + "ARP op \(arp.operation)"
    case EtherType.ipv4:
        guard let ip = try? IPv4Header(eth.payload) else { return l2 + "IPv4, malformed" }
        var s = l2 + "IPv4 \(ip.source) > \(ip.destination) ttl \(ip.ttl)"
        if ip.fragmentOffset != 0 { return s + " fragment offset \(ip.fragmentOffset) proto \(ip.protocol)" }
        s += ", " + transport(ip.protocol, ip.payload)
        return s
    case EtherType.ipv6:
        guard let ip = try? IPv6Header(eth.payload) else { return l2 + "IPv6, malformed" }
        return l2 + "IPv6 \(ip.source) > \(ip.destination) hlim \(ip.hopLimit), next \(ip.upperProtocol)"
    default:
        let t = String(eth.etherType, radix: 16)
        return l2 + "ethertype 0x" + String(repeating: "0", count: 4 - t.count) + t
    }
}

private func transport(_ proto: UInt8, _ payload: RawBytes) -> String {
    switch proto {
    case IPProtocol.tcp:
        guard let t = try? TCPHeader(payload) else { return "TCP, malformed" }
        let names: [(UInt8, String)] = [(TCPHeader.syn, "S"), (TCPHeader.fin, "F"), (TCPHeader.rst, "R"),
                                         (TCPHeader.psh, "P"), (TCPHeader.ack, "."), (TCPHeader.urg, "U")]
        let flags = names.filter { t.flags & $0.0 != 0 }.map(\.1).joined()
        return "TCP \(t.sourcePort) > \(t.destinationPort) [\(flags)] seq \(t.sequenceNumber) len \(t.payload.count)"
    case IPProtocol.udp:
        guard payload.count >= UDPHeader.length else { return "UDP, malformed" }
        let u = UDPHeader(unchecked: payload)
        return "UDP \(u.sourcePort) > \(u.destinationPort) len \(u.length - UDPHeader.length)"
    case IPProtocol.icmp:
        guard let i = try? ICMPHeader(payload) else { return "ICMP, malformed" }
        switch i.type {
        case ICMPHeader.echoRequest: return "ICMP echo request id \(i.identifier) seq \(i.sequence)"
        case ICMPHeader.echoReply: return "ICMP echo reply id \(i.identifier) seq \(i.sequence)"
        case ICMPHeader.timeExceeded: return "ICMP time exceeded"
        case ICMPHeader.destinationUnreachable: return "ICMP unreachable code \(i.code)"
        default: return "ICMP type \(i.type) code \(i.code)"
        }
    default:
        return "proto \(proto)"
    }
}
