/// Builds whole Ethernet frames with correct lengths and checksums, for tests, examples and synthetic
/// traffic. This is a slow-path convenience (it returns arrays); the dataplane never calls it per packet.
public enum FrameBuilder {
    /// An Ethernet frame around `payload`, with an optional 802.1Q tag.
    public static func ethernet(source: MACAddress, destination: MACAddress, etherType: UInt16,
                                vlan: UInt16? = nil, payload: [UInt8]) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: 12)
        f.withUnsafeMutableBytes { b in
            let r = RawBytes(b)
            destination.write(to: r, at: 0)
            source.write(to: r, at: 6)
        }
        if let vlan {
            f += [0x81, 0x00, UInt8(vlan >> 8 & 0x0F), UInt8(vlan & 0xFF)]
        }
        f += [UInt8(etherType >> 8), UInt8(etherType & 0xFF)]
        return f + payload
    }

    /// An IPv4 datagram (20-byte header, correct checksum) around an L4 payload.
    public static func ipv4(source: IPv4Address, destination: IPv4Address, protocol proto: UInt8, ttl: UInt8 = 64,
                            identification: UInt16 = 0, dontFragment: Bool = true, payload: [UInt8]) -> [UInt8] {
        var d = [UInt8](repeating: 0, count: 20) + payload
        d.withUnsafeMutableBytes { b in
            IPv4Header.write(to: RawBytes(b), totalLength: 20 + payload.count, identification: identification,
                             dontFragment: dontFragment, ttl: ttl, protocol: proto, source: source,
                             destination: destination)
        }
        return d
    }

    /// A TCP segment (20-byte header plus `options`, padded to 4 bytes) with its checksum over the IPv4
    /// pseudo-header.
    public static func tcp(source: IPv4Address, destination: IPv4Address, sourcePort: UInt16,
                           destinationPort: UInt16, flags: UInt8, sequence: UInt32 = 0, acknowledgment: UInt32 = 0,
                           window: UInt16 = 65535, options: [UInt8] = [], payload: [UInt8] = []) -> [UInt8] {
        let opts = options + [UInt8](repeating: 0, count: (4 - options.count % 4) % 4)
        let hl = 20 + opts.count
        var s = [UInt8](repeating: 0, count: hl) + payload
        s.withUnsafeMutableBytes { b in
            let r = RawBytes(b)
            r.setU16(0, sourcePort)
            r.setU16(2, destinationPort)
            r.setU32(4, sequence)
            r.setU32(8, acknowledgment)
            r.setU8(12, UInt8(hl / 4) << 4)
            r.setU8(13, flags)
            r.setU16(14, window)
            for (k, o) in opts.enumerated() { r.setU8(20 + k, o) }
            let ph = InternetChecksum.pseudoHeaderSum(source: source, destination: destination,
                                                      protocol: IPProtocol.tcp, length: r.count)
            r.setU16(16, InternetChecksum.compute(r, initial: ph))
        }
        return s
    }

    /// A UDP datagram with its checksum over the IPv4 pseudo-header.
    public static func udp(source: IPv4Address, destination: IPv4Address, sourcePort: UInt16,
                           destinationPort: UInt16, payload: [UInt8] = []) -> [UInt8] {
        var s = [UInt8](repeating: 0, count: 8) + payload
        s.withUnsafeMutableBytes { b in
            let r = RawBytes(b)
            r.setU16(0, sourcePort)
            r.setU16(2, destinationPort)
            r.setU16(4, UInt16(r.count))
            let ph = InternetChecksum.pseudoHeaderSum(source: source, destination: destination,
                                                      protocol: IPProtocol.udp, length: r.count)
            var c = InternetChecksum.compute(r, initial: ph)
            if c == 0 { c = 0xFFFF }  // zero means "no checksum" in UDP over IPv4
            r.setU16(6, c)
        }
        return s
    }

    /// An ICMP message (echo request/reply and the like) with its checksum.
    public static func icmp(type: UInt8, code: UInt8 = 0, identifier: UInt16 = 0, sequence: UInt16 = 0,
                            payload: [UInt8] = []) -> [UInt8] {
        var m = [type, code, 0, 0, UInt8(identifier >> 8), UInt8(identifier & 0xFF),
                 UInt8(sequence >> 8), UInt8(sequence & 0xFF)] + payload
        m.withUnsafeMutableBytes { b in
            let r = RawBytes(b)
            r.setU16(2, InternetChecksum.compute(r))
        }
        return m
    }

    /// A whole Ethernet + IPv4 + TCP frame.
    public static func tcpFrame(sourceMAC: MACAddress, destinationMAC: MACAddress, source: IPv4Address,
                                destination: IPv4Address, sourcePort: UInt16, destinationPort: UInt16,
                                flags: UInt8, sequence: UInt32 = 0, acknowledgment: UInt32 = 0, ttl: UInt8 = 64,
                                identification: UInt16 = 0, vlan: UInt16? = nil, payload: [UInt8] = []) -> [UInt8] {
        let seg = tcp(source: source, destination: destination, sourcePort: sourcePort, destinationPort: destinationPort,
                      flags: flags, sequence: sequence, acknowledgment: acknowledgment, payload: payload)
        let ip = ipv4(source: source, destination: destination, protocol: IPProtocol.tcp, ttl: ttl,
                      identification: identification, payload: seg)
        return ethernet(source: sourceMAC, destination: destinationMAC, etherType: EtherType.ipv4, vlan: vlan, payload: ip)
    }

    /// A whole Ethernet + IPv4 + UDP frame.
    public static func udpFrame(sourceMAC: MACAddress, destinationMAC: MACAddress, source: IPv4Address,
                                destination: IPv4Address, sourcePort: UInt16, destinationPort: UInt16, ttl: UInt8 = 64,
                                identification: UInt16 = 0, payload: [UInt8] = []) -> [UInt8] {
        let d = udp(source: source, destination: destination, sourcePort: sourcePort, destinationPort: destinationPort,
                    payload: payload)
        let ip = ipv4(source: source, destination: destination, protocol: IPProtocol.udp, ttl: ttl,
                      identification: identification, payload: d)
        return ethernet(source: sourceMAC, destination: destinationMAC, etherType: EtherType.ipv4, payload: ip)
    }

    /// A whole Ethernet + IPv4 + ICMP echo frame.
    public static func echoFrame(sourceMAC: MACAddress, destinationMAC: MACAddress, source: IPv4Address,
                                 destination: IPv4Address, reply: Bool = false, identifier: UInt16, sequence: UInt16,
                                 ttl: UInt8 = 64, payload: [UInt8] = Array(0..<32)) -> [UInt8] {
        let m = icmp(type: reply ? ICMPHeader.echoReply : ICMPHeader.echoRequest, identifier: identifier,
                     sequence: sequence, payload: payload)
        let ip = ipv4(source: source, destination: destination, protocol: IPProtocol.icmp, ttl: ttl, payload: m)
        return ethernet(source: sourceMAC, destination: destinationMAC, etherType: EtherType.ipv4, payload: ip)
    }

    /// An ARP request frame (broadcast), padded to the 60-byte Ethernet minimum as on the wire.
    public static func arpRequest(sourceMAC: MACAddress, senderIP: IPv4Address, targetIP: IPv4Address) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: ARPPacket.length)
        body.withUnsafeMutableBytes { b in
            ARPPacket.write(to: RawBytes(b), operation: ARPPacket.request, senderMAC: sourceMAC, senderIP: senderIP,
                            targetMAC: .zero, targetIP: targetIP)
        }
        let f = ethernet(source: sourceMAC, destination: .broadcast, etherType: EtherType.arp, payload: body)
        return f + [UInt8](repeating: 0, count: 60 - f.count)
    }
}
